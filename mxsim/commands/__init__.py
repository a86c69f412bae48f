"""Commands as functions: a frozen config in, frozen results out. The CLI only renders them."""
