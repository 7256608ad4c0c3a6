"""kino_export: turn PyTorch / diffusers video diffusion models into kino model packages.

Subcommands (``python -m kino_export --help``):
  demo train|export|eval   the shipped demo model (a procedural shapes world)
"""
__version__ = "0.1.0"
