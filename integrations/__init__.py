"""Bridges between LoRA League and other training systems (`integrations.areal`: AReaL).

An integration depends on envs, agents and trainers; nothing in them imports an integration.
Each needs its system installed (see its module docstring); importing this package alone needs
nothing.
"""
