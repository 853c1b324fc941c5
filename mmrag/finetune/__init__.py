"""Fine-tuning: LoRA/QLoRA of the caption generator on its own retrieval-augmented prompts."""
