"""Policy serving: one engine, many LoRA adapters (and versions of them) in every batch."""
