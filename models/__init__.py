"""The PD model, its explanations, validation, monitoring, registry and serving."""
