"""``blindsum demo``: a private federation fine-tuning a real model, end to end."""
