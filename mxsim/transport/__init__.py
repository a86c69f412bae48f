"""The seam between the engine and a world: effects the engine asks for, results it gets."""
