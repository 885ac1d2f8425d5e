"""Perceptual observations of a world (worlds.render images, worlds.sentences sentences) and real architectures
trained on them (learners.perceptual): determinism per (seed, index), the right state in every sample, Bayes
decodability falling with noise, and a tiny CNN and a tiny text model learning a 16-state world."""
import numpy as np
import pytest
import torch

from worlds import DropFactor, make_world
from worlds.observations import OBSERVATIONS
from worlds.render import BACKGROUND, PALETTE, SHAPES, ImageObservation
from worlds.sentences import WORDS, SentenceObservation

CLEAN = dict(noise=0.0, jitter=0.0, rotation=0.0, clutter=0.0)


def world16():
    """16 states as 4 x 4 factors (shape x colour), each factor a lazy weighted ring: no two rows of K_PMI alike."""
    return make_world("product", first="weighted_ring", second="weighted_ring",
                      first_kw={"n_states": 4, "lazy": 0.7}, second_kw={"n_states": 4, "lazy": 0.7})


def test_registered_beside_the_others():
    assert OBSERVATIONS["image"] is ImageObservation and OBSERVATIONS["sentence"] is SentenceObservation


@pytest.mark.parametrize("make", [lambda: ImageObservation((4, 3, 3, 4)), lambda: SentenceObservation((4, 3, 3, 4))])
def test_samples_are_a_function_of_seed_and_index(make):
    obs = make()
    z = np.arange(40) % obs.n_states
    a = obs.sample(z, seed=3, start=10)
    assert np.array_equal(a, obs.sample(z, seed=3, start=10))
    for j in (0, 17, 39):  # alone, or inside another batch: the same sample
        assert np.array_equal(a[j], obs.sample(z[j:j + 1], seed=3, start=10 + j)[0])
    assert np.array_equal(a[5:25], obs.sample(z[5:25], seed=3, start=15))
    b = obs.sample(z, seed=4, start=10)
    assert np.mean([not np.array_equal(x, y) for x, y in zip(a, b)]) > 0.5  # another seed, other nuisance
    same = obs.sample(np.zeros(20, dtype=int), seed=3)
    assert len({x.tobytes() for x in same}) > 10  # many samples show one state


def _read_image(img: np.ndarray):
    """(shape, colour index, centroid) read from a clean image of a solid shape, without the renderer's formulas:
    the foreground is what differs from the background; the colour its pixels' value; the shape from its
    occupancy: a hole in the middle (ring), more mass below than above (triangle, apex up), a full bounding box
    (square), the bounding box's diagonal point at 0.72 filled (diamond) or empty (cross), else circle."""
    fg = np.abs(img - BACKGROUND).sum(axis=0) > 0.3
    core = np.abs(img - BACKGROUND).sum(axis=0) > np.abs(img - BACKGROUND).sum(axis=0).max() - 1e-6
    colour = img[:, core].mean(axis=1)
    ys, xs = np.nonzero(fg)
    cy, cx = ys.mean(), xs.mean()
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    h, w = bottom - top + 1, right - left + 1
    fill = fg[top:bottom + 1, left:right + 1].mean()
    upper, lower = fg[top:int(round((top + bottom) / 2))].sum(), fg[int(round((top + bottom) / 2)) + 1:].sum()
    if not fg[int(round((top + bottom) / 2)), int(round((left + right) / 2))]:
        shape = "ring"
    elif lower > 1.5 * upper:
        shape = "triangle"
    elif fill > 0.9:
        shape = "square"
    elif fill < 0.7:
        shape = "diamond" if fg[top + int(0.72 * h), left + int(0.72 * w)] else "cross"
    else:
        shape = "circle"
    return shape, int(np.argmin(np.abs(PALETTE - colour).sum(axis=1))), (cx, cy)


def test_a_clean_image_shows_its_shape_colour_and_position():
    obs = ImageObservation((6, 8), **CLEAN)
    imgs = obs.render(np.arange(obs.n_states), seed=0)
    read = [_read_image(x)[:2] for x in imgs]
    assert read == [(SHAPES[s], c) for s, c in obs.factors]
    placed = ImageObservation((2, 2, 1, 4), **CLEAN)
    for (_, _, _, corner), img in zip(placed.factors, placed.render(np.arange(placed.n_states))):
        cx, cy = _read_image(img)[2]
        assert (cx > 16, cy > 16) == (corner % 2 == 1, corner >= 2)  # corners: top left, top right, bottom...


def test_drop_colour_is_lossy_and_draws_every_colour_alike():
    obs = ImageObservation((4, 4), drop=1, noise=0.3)
    assert np.array_equal(obs.matrix, DropFactor((4, 4), 1).matrix) and not obs.bijective
    a, b = obs.render(np.array([4, 5, 6]), seed=1), obs.render(np.array([4, 4, 4]), seed=1)
    assert np.array_equal(a, b)  # states 4, 5, 6 differ only in colour
    words = {w for syn in WORDS[1] for w in syn}
    said = SentenceObservation((4, 4), drop=1).sentences(np.arange(16).repeat(5), seed=2)
    assert not words & {w for s in said for w in s.split()}


def test_decodability_is_one_without_nuisance_and_falls_with_noise():
    assert ImageObservation((4, 4), **CLEAN).decodability(n_test=64, n_templates=1)["accuracy"] == 1.0
    acc = [ImageObservation((4, 4), noise=s).decodability(n_test=128, n_templates=8) for s in (0.0, 1.0, 3.0)]
    a = [r["accuracy"] for r in acc]
    assert a[0] >= 0.8 and a[0] >= a[1] > a[2] + 3 * acc[2]["stderr"] and a[2] > acc[2]["chance"]
    assert acc[2]["stderr"] == pytest.approx(np.sqrt(a[2] * (1 - a[2]) / 128))


def test_sentences_name_the_state_and_tokenise_back():
    obs = SentenceObservation((4, 4, 3, 4))
    z = np.arange(obs.n_states).repeat(3)
    said = obs.sentences(z, seed=5)
    ids = obs.sample(z, seed=5)
    assert ids.shape == (z.size, obs.length) and ids.dtype == np.int64
    for s, row, f in zip(said, ids, obs.factors[z]):
        assert " ".join(obs.vocab[i] for i in row if i) == s
        for factor, value in enumerate(f):  # every factor named by one of its value's synonyms, no other value's
            named = [v for v, syn in enumerate(WORDS[factor]) if any(f" {w} " in f" {s} " for w in syn)]
            assert named == [value], (s, factor)
    assert len(set(obs.sentences(np.zeros(30, dtype=int), seed=1))) > 10


@pytest.mark.parametrize("call, message", [
    (lambda: ImageObservation((7, 4)), "The 'factor_sizes' parameter of ImageObservation must give the shape "
                                       "factor at most 6 values. Got (7, 4) instead."),
    (lambda: ImageObservation((4, 4), noise=-1.0), "The 'noise' parameter of ImageObservation must be >= 0"),
    (lambda: ImageObservation((4, 4)).render(np.array([16])), "The 'states' parameter of ImageObservation.render "
                                                              "must hold states in [0, 15]"),
    (lambda: ImageObservation((4, 4)).decodability(n_test=8), "The 'n_test' parameter of "
                                                              "ImageObservation.decodability must be >= 16"),
    (lambda: SentenceObservation((4, 4), drop=2), "The 'drop' parameter of SentenceObservation must be in [0, 1]"),
    (lambda: SentenceObservation((4, 4)).sample(np.arange(3), start=-1), "The 'start' parameter of "
                                                                         "SentenceObservation.sentences must be >= 0"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(message)


def test_train_checks_before_any_work():
    from learners.perceptual import train

    w = world16()
    with pytest.raises(ValueError, match="The 'loss' parameter of train must be one of"):
        train(w, ImageObservation((4, 4)), loss="vicreg")
    with pytest.raises(ValueError, match="must observe the world's 16 states"):
        train(w, ImageObservation((4, 2)))
    with pytest.raises(TypeError, match="The 'encoder_kw' parameter of train must be a dict"):
        train(w, ImageObservation((4, 4)), encoder_kw=[("width", 4)])


@pytest.mark.parametrize("arch, kw", [("resnet", {"width": 4}), ("vit", {"width": 8, "depth": 1}),
                                      ("convnet", {"width": 4, "depth": 3})])
def test_image_encoders_take_32px_images(arch, kw):
    from learners.perceptual import image_encoder

    torch.manual_seed(0)
    out = image_encoder(5, arch, **kw)(torch.from_numpy(ImageObservation((4, 4)).render(np.arange(3))))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_training_is_a_function_of_the_seed_across_modalities():
    from learners.perceptual import train

    w = world16()
    kw = dict(view_b=SentenceObservation((4, 4)), steps=3, batch_size=8, dim=8, encoder_kw={"width": 4, "depth": 1},
              encoder_kw_b={"width": 8, "layers": 1, "heads": 2})
    a, b, c = (train(w, ImageObservation((4, 4)), seed=s, **kw) for s in (0, 0, 1))
    assert a.losses == b.losses and a.losses != c.losses and a.encoder_a is not a.encoder_b
    ne = train(w, SentenceObservation((4, 4)), loss="next_event", steps=3, batch_size=8, dim=8,
               encoder_kw={"width": 8, "layers": 1, "heads": 2})
    assert ne.head.out_features == 16 and np.isfinite(ne.losses).all()


def _learn(view, steps, lr, encoder_kw):
    from learners.perceptual import evaluate, train

    w = world16()
    fit = train(w, view, steps=steps, batch_size=64, lr=lr, tau=0.1, encoder_kw=encoder_kw)
    return evaluate(fit, w, view, n_probe=256)


def test_a_tiny_cnn_learns_the_states_from_noisy_images():
    # measured, seeds 0, 1, 2: probe 0.75, 0.69, 0.75 (chance 0.06; Bayes decodability 0.98); Pearson with K_PMI
    # 0.67, 0.66, 0.63; mutual k-NN with the optimum 0.58, 0.58, 0.54 (chance 0.2); ~4 s
    r = _learn(ImageObservation((4, 4)), 60, 3e-3, {"arch": "convnet", "width": 16, "depth": 2})
    assert r["probe"] >= 0.55 and r["pearson"] >= 0.45 and r["mutual_knn"] >= 2 * r["mutual_knn_chance"]


def test_a_tiny_text_model_learns_the_states_from_sentences():
    # measured, seeds 0-3: probe 1.0, 0.99, 1.0, 1.0; Pearson with K_PMI 0.69, 0.77, 0.94, 0.87; mutual k-NN 0.79,
    # 0.65, 0.83, 0.73; ~3 s
    r = _learn(SentenceObservation((4, 4)), 100, 1e-2, {"width": 32, "layers": 1, "heads": 2})
    assert r["probe"] >= 0.95 and r["pearson"] >= 0.55 and r["mutual_knn"] >= 2 * r["mutual_knn_chance"]


def test_fit_refuses_a_perceptual_observation():
    from learners import fit

    # its embedding table would read the state index behind the pixels: a learner that never saw an image
    with pytest.raises(TypeError, match="The 'observation' parameter of fit must be an index observation"):
        fit(world16(), ImageObservation((4, 4)), max_steps=1)


def test_a_tiny_gpt_reaches_the_entropy_rate_of_the_world():
    from learners.perceptual import evaluate, evaluate_gpt, train_gpt
    from worlds import Permutation, entropy

    # measured (seed 0): held-out loss 1.734 nats against an entropy rate of 1.673 (log 16 = 2.77 at the start);
    # state probe from the hidden states 1.0; Pearson of the logit table with log P(next | current) 0.93; ~1 s
    w, obs = world16(), Permutation(16, seed=1)
    fit = train_gpt(w, obs, steps=60, batch_size=32, length=16, width=32, lr=1e-2)
    rate = entropy(w.stationary[:, None] * w.transition) - entropy(w.stationary)
    assert fit.config["entropy_rate"] == pytest.approx(rate) and fit.losses[0] > rate + 0.8
    r = evaluate_gpt(fit, w, obs)
    assert rate - 0.05 < r["loss"] < rate + 0.15 and r["probe"] >= 0.95 and r["pearson"] >= 0.8
    with pytest.raises(TypeError, match="The 'fit' parameter of evaluate must be the result of"):
        evaluate(fit, w, obs)


def test_evaluate_reads_only_what_the_encoder_was_trained_on():
    from learners.perceptual import evaluate, train

    w = world16()
    fit = train(w, SentenceObservation((4, 4)), steps=1, batch_size=8, dim=4, encoder_kw={"width": 8, "heads": 2})
    with pytest.raises(ValueError, match="The 'observation' parameter of evaluate must be of the kind trained on"):
        evaluate(fit, w, SentenceObservation((4, 1, 1, 4)))  # 16 states too, more words (position)
    evaluate(fit, w, SentenceObservation((2, 8)), n_probe=16, per_state=1)  # the same words: it reads them
    with pytest.raises(TypeError, match=r"The 'encoder_kw' parameter of train must hold only options of the "
                                        r"ImageObservation encoder \(arch, width, depth, heads\)"):
        train(w, ImageObservation((4, 4)), encoder_kw={"layers": 2})
