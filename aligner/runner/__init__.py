"""The corpus runner: chunked, resumable, optionally distributed alignment of whole files."""
