"""Pure analytics for annotation QA: agreement metrics and label aggregation over long-format frames."""
