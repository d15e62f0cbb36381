//! The process-wide `config()`: built once, shared by every thread.
//! This file is its own test process, so the global starts empty here.

use envcloak::{Error, config, config_or};

#[test]
fn eight_threads_call_config_at_once() {
    let path = std::env::var("PATH").expect("tests run with PATH set");
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..200 {
                    assert_eq!(config::<String>("PATH").unwrap(), path);
                    assert!(matches!(
                        config::<String>("ENVCLOAK_TEST_SURELY_UNSET_7Q"),
                        Err(Error::Missing { .. })
                    ));
                    assert_eq!(config_or("ENVCLOAK_TEST_SURELY_UNSET_7Q", 5u8).unwrap(), 5);
                }
            });
        }
    });
}
