"""The entry points: `Explainer`, `explain_prediction` (ELI5's calls),
`explain_batch`, `explain_methods`, and the results they return."""
