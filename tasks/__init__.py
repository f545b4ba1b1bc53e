"""One Prefect task per stage: compute the key, skip if complete, load inputs, call one component, write."""
