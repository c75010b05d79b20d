"""The runner: run-directory contract, keyed cache, resume, batching and progress."""
