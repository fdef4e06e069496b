"""Text: the prompt tokenizer."""
