"""Exporters for real model families (Wan2.1, LTX-Video) from diffusers checkpoints."""
