"""Simulators. `synthetic_source` renders inspection footage with ground truth (`synthetic://` URIs).

Renderer modules, one job each: camera (pinhole maths), backgrounds (sky and terrain), structures
(towers, wires, nests), draw_insulator (strings and their defects), layout (a random stretch of
line), flight (camera paths), postfx (camera look), scene (build once, render any frame), classes
(class ids and names). Tools: make_demo (the bundled demo footage), make_dataset (YOLO training sets).
"""
