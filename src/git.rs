//! Git plumbing for envcloak's drivers (DESIGN §8): enrollment in
//! `.gitattributes` and a clone's config, and keyed fingerprints of values
//! for readable diffs.
