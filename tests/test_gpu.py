"""CUDA checks (`make test-gpu` on a GPU machine): every metric, layer sweeps, calibration, a short learner fit and
feature extraction give on the GPU what they give on the CPU. On a machine without CUDA these tests skip."""
import numpy as np
import pytest
import torch

import alignment as al

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
F64 = torch.float64


def gauss(seed, n, *widths):
    rs = np.random.RandomState(seed)
    z = rs.randn(n, 4)
    return [np.hstack([z, rs.randn(n, w - 4)]) for w in widths]


@pytest.mark.parametrize("name", al.METRICS)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-5)])
def test_every_metric_on_cuda_matches_cpu(name, dtype, tol):
    A, B = gauss(0, 300, 32, 48)
    kw = al.metric_kwargs(name, k=10, cca_dim=8)
    cpu = al.measure(name, A, B, dtype=dtype, **kw)
    gpu = al.measure(name, torch.tensor(A).cuda(), torch.tensor(B).cuda(), dtype=dtype, **kw)
    assert gpu == pytest.approx(cpu, abs=tol)


@pytest.mark.parametrize("name", al.KERNEL_METRICS)
def test_every_kernel_metric_on_cuda_matches_cpu(name):
    A, B = gauss(1, 200, 16, 16)
    K, L = A @ A.T, B @ B.T
    kw = al.metric_kwargs(name, k=10)
    cpu = al.measure_kernels(name, K, L, dtype=F64, **kw)
    assert al.measure_kernels(name, torch.tensor(K).cuda(), torch.tensor(L).cuda(), dtype=F64, **kw) == \
        pytest.approx(cpu, abs=1e-9)


@pytest.mark.parametrize("metric", ["mutual_knn", "cknna", "cka"])
def test_layerwise_and_calibrate_on_cuda_match_cpu(metric):
    la = gauss(2, 256, 24, 32, 40)
    lb = gauss(3, 256, 16, 48)
    kw = al.metric_kwargs(metric, k=8)
    cpu = al.layerwise(la, lb, metric, dtype=F64, **kw)
    gpu = al.layerwise([torch.tensor(x).cuda() for x in la], [torch.tensor(x).cuda() for x in lb], metric,
                       dtype=F64, **kw)
    np.testing.assert_allclose(gpu.scores, cpu.scores, atol=1e-9)
    assert gpu.best_layers == cpu.best_layers
    c_cpu = al.calibrate(la, lb, metric, n_perm=20, seed=5, dtype=F64, **kw)
    c_gpu = al.calibrate([torch.tensor(x).cuda() for x in la], [torch.tensor(x).cuda() for x in lb], metric,
                         n_perm=20, seed=5, dtype=F64, **kw)
    np.testing.assert_allclose(c_gpu.null, c_cpu.null, atol=1e-9)  # the same permutations on every device
    assert c_gpu.z == pytest.approx(c_cpu.z, rel=1e-6, abs=1e-9)


def test_short_learner_fit_on_gpu_learns_the_kernel_as_on_cpu(tmp_path):
    import worlds
    from learners import fit

    w = worlds.make_world("torus")
    kw = dict(loss="infonce", dim=64, window=16, max_steps=300, batch_size=512, seed=0)
    gpu = fit(w, worlds.Permutation(64, seed=1), accelerator="gpu", **kw).report(population=False)["learned"]
    cpu = fit(w, worlds.Permutation(64, seed=1), accelerator="cpu", **kw).report(population=False)["learned"]
    assert gpu["pearson_offdiag"] > 0.95 and abs(gpu["pearson_offdiag"] - cpu["pearson_offdiag"]) < 0.01


@pytest.mark.parametrize("model", ["efficientnet_lite0", "vit_tiny_random"])
def test_feature_extraction_on_cuda_matches_cpu(model):
    from PIL import Image

    from empirical import features, models

    try:
        models.load(model, device="cpu")
    except models.WeightsNotFound as err:  # the GPU machine lacks the weight package: scripts/test_gpu.sh says how
        pytest.skip(str(err))
    rs = np.random.RandomState(0)
    images = [Image.fromarray(rs.randint(0, 255, (96, 96, 3), dtype=np.uint8)) for _ in range(6)]
    cpu = features.extract(model, images, device="cpu", batch_size=3)
    gpu = features.extract(model, images, device="cuda", batch_size=3)
    assert len(gpu) == len(cpu)
    for a, b in zip(gpu, cpu):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


# ---- large-N paths: feature-space CKA, faiss, the released code's clamp ----

@pytest.mark.parametrize("name", ["cka", "unbiased_cka"])
def test_feature_space_cka_on_cuda_matches_cpu_and_the_gram_path(name):
    from alignment import _hsic

    A, B = gauss(4, 3000, 48, 64)  # D < N: the feature form, no N x N kernel
    cpu = al.measure(name, A, B, dtype=F64)
    ta, tb = torch.tensor(A).cuda(), torch.tensor(B).cuda()
    assert _hsic.gram_from_features(ta, True).K.shape == (3000, 48)
    assert al.measure(name, ta, tb, dtype=F64) == pytest.approx(cpu, abs=1e-10)
    assert al.measure_kernels(name, ta @ ta.T, tb @ tb.T, dtype=F64) == pytest.approx(cpu, abs=1e-10)
    c_cpu = al.calibrate(A, B, name, n_perm=10, seed=1, dtype=F64)
    c_gpu = al.calibrate(ta, tb, name, n_perm=10, seed=1, dtype=F64)
    np.testing.assert_allclose(c_gpu.null, c_cpu.null, rtol=0, atol=1e-10)


def test_faiss_on_cuda_tensors_matches_cpu():
    from alignment import _faiss

    if not _faiss.available():
        pytest.skip("needs faiss (faiss-gpu for the GPU index)")
    A, B = (x.astype(np.float32) for x in gauss(5, 2000, 32, 32))
    for name in ("mutual_knn", "cknna"):
        cpu = al.measure(name, A, B, k=10)
        gpu = al.measure(name, torch.tensor(A).cuda(), torch.tensor(B).cuda(), k=10, knn="faiss")
        assert gpu == pytest.approx(cpu, abs=2e-3)  # near-ties within float rounding may order differently
    with pytest.warns(al.ApproximateKnnWarning):
        approx = al.mutual_knn(torch.tensor(A).cuda(), torch.tensor(B).cuda(), k=10, knn="faiss-approx")
    assert approx == pytest.approx(al.mutual_knn(A, B, k=10, knn="faiss-approx"), abs=1e-12)  # the same CPU graph


@pytest.mark.parametrize("name", ["rbf_cka", "rsa", "procrustes", "pwcca", "jaccard_knn"])
def test_new_metrics_in_sweeps_and_nulls_on_cuda_match_cpu(name):
    la, lb = gauss(6, 200, 24, 32), gauss(7, 200, 16, 40)
    cpu = al.calibrate(la, lb, name, n_perm=8, seed=2, dtype=F64, clamp="stack")
    gpu = al.calibrate([torch.tensor(x).cuda() for x in la], [torch.tensor(x).cuda() for x in lb], name, n_perm=8,
                       seed=2, dtype=F64, clamp="stack")
    np.testing.assert_allclose(gpu.scores, cpu.scores, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gpu.null, cpu.null, rtol=0, atol=1e-9)


@pytest.mark.parametrize("clamp", ["stack", "stack-precise"])
def test_stack_clamp_on_cuda_matches_cpu(clamp):
    stack = np.stack(gauss(8, 300, 64, 64, 64)) * np.array([1.0, 4.0, 16.0])[:, None, None]
    cpu = al.prepare(stack, clamp=clamp)
    gpu = al.prepare(torch.tensor(stack).cuda(), clamp=clamp)
    for g, c in zip(gpu, cpu):
        torch.testing.assert_close(g.cpu(), c, rtol=0, atol=1e-6)
