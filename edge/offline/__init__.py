"""Work on recorded footage outside the process chain: `gridscout detect` and its annotated output."""
