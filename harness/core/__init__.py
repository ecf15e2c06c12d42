"""The harness's spine: records, I/O, config, fingerprints, run directories and errors.

Nothing here imports torch, transformers, vllm or any other heavy package, and nothing here imports
the rest of the harness: every other package builds on this one.
"""
