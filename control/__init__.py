"""Control: behaviours (patrol, slow, hold for a close look) and the safety gate every command passes.

Built with the process chain (the issue "Act and report"); perception never imports this package.
"""
