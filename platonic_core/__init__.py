"""The toolkit's neutral layer, below every package: input validation (`checks`), run output (`runio`: atomic
files, the results schema, figures, cache keys) and the experiment contract, registry and command line
(`experiment`). Importing it imports neither torch nor any other package of the project.

`__version__` here is the version of the platonic-toolkit distribution (pyproject.toml reads it) and of every
package of the project; `extras.require` names the extra to install where an optional dependency is missing."""
__version__ = "0.1.0"
