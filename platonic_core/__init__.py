"""The toolkit's neutral layer, below every package: input validation (`checks`), run output (`runio`: atomic
files, the results schema, figures, cache keys) and the experiment contract, registry and command line
(`experiment`). Importing it imports neither torch nor any other package of the project."""
