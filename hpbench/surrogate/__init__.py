"""Record a real task once, replay it as a surrogate (``hpbench record``, ``SurrogateTask``)."""
