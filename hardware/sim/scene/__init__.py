"""The scene renderer: synthetic inspection footage with exact ground truth.

Used by `synthetic://` sources, the bundled demo footage and the synthetic training sets.
"""
