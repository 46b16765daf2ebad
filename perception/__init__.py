"""Perception: ONNX detection, the two-stage cascade, tracking and the defect taxonomy.

Nothing here imports torch, ultralytics or control/.
"""
