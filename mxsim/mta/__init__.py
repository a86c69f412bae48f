"""MTAs: profiles of real MTAs' routing rules, and one delivery attempt under them."""
