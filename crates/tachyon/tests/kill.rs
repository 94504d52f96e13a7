//! A process killed (SIGKILL) at a random moment while it replaces a file leaves the old file or the new one,
//! whole and loadable, never a mix: 100 kills of `tachyon train --out` and 100 of `tachyon models promote`, each
//! at a random time within the command's own run time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tachyon_testkit::SplitMix64;

const KILLS: usize = 100;

fn tachyon(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tachyon"));
    cmd.args(args).env_remove("TACHYON_ISA").stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// How long `args` takes to run to the end (the longest of three runs).
fn run_time(args: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            assert!(tachyon(args).status().unwrap().success(), "{args:?}");
            start.elapsed()
        })
        .max()
        .unwrap()
}

/// Runs `args` and kills it after a random share (0 to 1.2) of `typical`; whether it finished first.
fn kill_at_random(args: &[&str], typical: Duration, rng: &mut SplitMix64) -> bool {
    let mut child = tachyon(args).spawn().unwrap();
    std::thread::sleep(typical.mul_f64(rng.uniform(0.0, 1.2)));
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    child.wait().unwrap();
    finished
}

#[test]
fn a_killed_train_or_promote_leaves_the_old_file_or_the_new_one() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let dir = std::env::temp_dir().join(format!("tachyon-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A short day (the first 20,000 messages), so that each run takes a fraction of a second.
    for kind in ["message", "orderbook"] {
        let text =
            std::fs::read_to_string(data.join(format!("AAPL_2012-06-21_34200000_57600000_{kind}_1.csv"))).unwrap();
        let head: String = text.lines().take(20_000).flat_map(|l| [l, "\n"]).collect();
        std::fs::write(dir.join(format!("X_{kind}_1.csv")), head).unwrap();
    }
    let input = dir.join("X_message_1.csv");
    let (model, old_copy, new_copy) = (dir.join("m.tcy"), dir.join("old.tcy"), dir.join("new.tcy"));
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let old_args = ["train", i, "--lambda", "10", "--out", old_copy.to_str().unwrap()];
    let new_args = ["train", i, "--lambda", "0.001", "--out", new_copy.to_str().unwrap()];
    assert!(tachyon(&old_args).status().unwrap().success());
    let typical = run_time(&new_args);
    let (old, new) = (std::fs::read(&old_copy).unwrap(), std::fs::read(&new_copy).unwrap());
    assert_ne!(old, new);
    let served = tachyon_train::FEATURES;
    let mut rng = SplitMix64(2026);
    let (mut kept_old, mut got_new) = (0, 0);
    let kill_args = ["train", i, "--lambda", "0.001", "--out", m];
    for _ in 0..KILLS {
        std::fs::write(&model, &old).unwrap();
        kill_at_random(&kill_args, typical, &mut rng);
        let bytes = std::fs::read(&model).expect("the model file is always there");
        assert!(bytes == old || bytes == new, "a mix of the old and the new model ({} bytes)", bytes.len());
        tachyon_train::ModelFile::load(&model, &served).expect("whole and loadable");
        if bytes == old {
            kept_old += 1;
        } else {
            got_new += 1;
        }
    }
    println!("train --out killed {KILLS} times within {typical:?}: old file {kept_old}, new file {got_new}");
    assert!(kept_old > 0 && got_new > 0, "kills landed before and after the replacement");

    // The registry: model 1 live, `promote 2` killed at random moments.
    let registry = dir.join("registry");
    let r = registry.to_str().unwrap();
    for file in [&old_copy, &new_copy] {
        assert!(tachyon(&["models", "--registry", r, "add", file.to_str().unwrap()]).status().unwrap().success());
    }
    let reg = tachyon_live::Registry::open(&registry).unwrap();
    reg.promote(1).unwrap();
    let typical = run_time(&["models", "--registry", r, "promote", "2"]);
    let (mut kept_old, mut got_new) = (0, 0);
    for _ in 0..KILLS {
        reg.promote(1).unwrap();
        let before = reg.promotions().unwrap();
        kill_at_random(&["models", "--registry", r, "promote", "2"], typical, &mut rng);
        let after = reg.promotions().expect("the promotions file is always whole");
        if after == before {
            kept_old += 1;
        } else {
            assert_eq!(after[..before.len()], before[..], "the old promotions are kept");
            assert_eq!((after.len(), after.last().unwrap().id), (before.len() + 1, 2), "one promotion added");
            got_new += 1;
        }
    }
    println!("models promote killed {KILLS} times within {typical:?}: old file {kept_old}, new file {got_new}");
    assert!(kept_old > 0 && got_new > 0, "kills landed before and after the replacement");
    std::fs::remove_dir_all(dir).unwrap();
}
