//! The optimised-graph cache through real ONNX Runtime sessions on the committed fixtures
//! (tests/fixtures/external-data, made by its make.py).

use std::path::{Path, PathBuf};

use super::*;
use crate::runtime::{Input, OnnxSession, OptimizedModels, RuntimeOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external-data").join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kino-cache-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(cache: &Path, budget: Option<u64>) -> RuntimeOptions {
    RuntimeOptions {
        threads: Some(1),
        optimized_models: OptimizedModels::Dir(cache.to_path_buf()),
        optimized_budget: budget,
        ..RuntimeOptions::from_env()
    }
}

fn run(s: &OnnxSession, x: &[f32]) -> Vec<f32> {
    let x = ndarray::ArrayView2::from_shape((1, x.len()), x).unwrap();
    s.run("test", &[("x", Input::f32(x))], &["y"]).unwrap().remove(0).iter().copied().collect()
}

/// Entries (graph files) in a cache folder.
fn graphs(cache: &Path) -> Vec<String> {
    let mut g: Vec<String> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    g.sort();
    g
}

#[test]
fn replaced_bytes_with_the_same_size_and_mtime_get_a_new_entry() {
    let d = tmp("replace");
    let cache = d.join("cache");
    let graph = d.join("scale.onnx");
    let bytes = std::fs::read(fixture("scale.onnx")).unwrap();
    std::fs::write(&graph, &bytes).unwrap();
    let mtime = std::fs::metadata(&graph).unwrap().modified().unwrap();
    let o = opts(&cache, None);
    let first = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_eq!(run(&first, &[1.0, 2.0, 3.0, 4.0]), [1.25, 2.5, 3.75, 5.0]);
    let first_entry = first.optimized_file.clone().expect("cached");
    drop(first);

    // Other bytes, same size, same mtime: 1.25 becomes 1.75.
    let at = bytes.windows(4).position(|w| w == 1.25f32.to_le_bytes()).unwrap();
    let mut other = bytes.clone();
    other[at..at + 4].copy_from_slice(&1.75f32.to_le_bytes());
    std::fs::write(&graph, &other).unwrap();
    std::fs::File::options().write(true).open(&graph).unwrap().set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&graph).unwrap().len(), bytes.len() as u64);
    assert_eq!(std::fs::metadata(&graph).unwrap().modified().unwrap(), mtime);
    let second = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_ne!(second.optimized_file.as_ref().unwrap(), &first_entry, "a new entry for new content");
    assert_eq!(run(&second, &[1.0, 2.0, 3.0, 4.0]), [1.75, 3.5, 5.25, 7.0], "outputs follow the new graph");
    assert_eq!(graphs(&cache).len(), 2);

    // The index remembers the hash: a third open with nothing changed uses the same entry.
    let third = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_eq!(third.optimized_file, second.optimized_file);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn least_recently_used_entries_leave_a_small_budget() {
    let d = tmp("evict");
    let cache = d.join("cache");
    let bytes = std::fs::read(fixture("scale.onnx")).unwrap();
    let at = bytes.windows(4).position(|w| w == 1.25f32.to_le_bytes()).unwrap();
    // Room for two and a half optimised graphs of this size.
    let probe = OnnxSession::open(&fixture("scale.onnx"), Device::Cpu, &opts(&d.join("probe"), None), None).unwrap();
    let size = std::fs::metadata(probe.optimized_file.as_ref().unwrap()).unwrap().len();
    let budget = size * 5 / 2;
    let o = opts(&cache, Some(budget));
    let mut entries = Vec::new();
    for (i, k) in [2.0f32, 3.0, 4.0].iter().enumerate() {
        let mut g = bytes.clone();
        g[at..at + 4].copy_from_slice(&k.to_le_bytes());
        let path = d.join(format!("g{i}.onnx"));
        std::fs::write(&path, &g).unwrap();
        let s = OnnxSession::open(&path, Device::Cpu, &o, None).unwrap();
        assert_eq!(run(&s, &[1.0; 4]), [*k; 4]);
        entries.push(s.optimized_file.clone().unwrap());
        // Distinct modification times for the LRU order.
        std::thread::sleep(std::time::Duration::from_millis(20));
        if i == 1 {
            // Use the first again: the second becomes the least recently used.
            OnnxSession::open(&d.join("g0.onnx"), Device::Cpu, &o, None).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let left = graphs(&cache);
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(left.contains(&name(&entries[2])), "the newest stays: {left:?}");
    assert!(left.contains(&name(&entries[0])), "the one used again stays: {left:?}");
    assert!(!left.contains(&name(&entries[1])), "the least recently used goes: {left:?}");
    let total: u64 =
        std::fs::read_dir(&cache).unwrap().flatten().filter(|e| e.file_name() != "index.tsv").map(|e| e.metadata().unwrap().len()).sum();
    assert!(total <= budget, "{total} bytes");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn graphs_with_external_data_of_any_name_load_from_the_cache() {
    let d = tmp("external");
    let cache = d.join("cache");
    for f in ["model.onnx", "model.onnx_data"] {
        std::fs::copy(fixture(f), d.join(f)).unwrap();
    }
    let o = opts(&cache, None);
    let x: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
    let plain = OnnxSession::open(
        &d.join("model.onnx"),
        Device::Cpu,
        &RuntimeOptions { optimized_models: OptimizedModels::Off, threads: Some(1), ..RuntimeOptions::from_env() },
        None,
    )
    .unwrap();
    let want = run(&plain, &x);
    let s = OnnxSession::open(&d.join("model.onnx"), Device::Cpu, &o, None).unwrap();
    let entry = s.optimized_file.clone().expect("graphs with external data are cached");
    assert_eq!(run(&s, &x), want);
    // The entry has its own data file and loads without the source's.
    let data: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".data"))
        .collect();
    assert_eq!(data.len(), 1, "{data:?}");
    drop(s);
    std::fs::rename(d.join("model.onnx_data"), d.join("elsewhere")).unwrap();
    let cached = OnnxSession::open(
        &entry,
        Device::Cpu,
        &RuntimeOptions { optimized_models: OptimizedModels::Off, threads: Some(1), ..RuntimeOptions::from_env() },
        None,
    )
    .unwrap();
    assert_eq!(run(&cached, &x), want);
    std::fs::remove_dir_all(&d).unwrap();
}

/// An entry changed after it was saved (in place, still a loadable graph) is not used: the
/// graph is optimised again, so the same seed keeps giving the same frames. So is an entry
/// without its record (saved by an older kino, or its record lost).
#[test]
fn an_entry_changed_after_it_was_saved_is_made_again() {
    let d = tmp("changed");
    let cache = d.join("cache");
    let graph = d.join("scale.onnx");
    std::fs::copy(fixture("scale.onnx"), &graph).unwrap();
    let o = opts(&cache, None);
    let first = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    let entry = first.optimized_file.clone().expect("cached");
    drop(first);
    let saved = std::fs::read(&entry).unwrap();
    assert!(entry.with_extension("sum").is_file(), "the record of what was saved");

    // 1.25 becomes 1.75 inside the cached graph: it still loads, and would scale by 1.75.
    let at = saved.windows(4).position(|w| w == 1.25f32.to_le_bytes()).expect("the scale in the optimised graph");
    let mut changed = saved.clone();
    changed[at..at + 4].copy_from_slice(&1.75f32.to_le_bytes());
    std::fs::write(&entry, &changed).unwrap();
    let plain = RuntimeOptions { optimized_models: OptimizedModels::Off, threads: Some(1), ..RuntimeOptions::from_env() };
    assert_eq!(run(&OnnxSession::open(&entry, Device::Cpu, &plain, None).unwrap(), &[1.0; 4]), [1.75; 4], "the change loads");
    let second = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_eq!(run(&second, &[1.0, 2.0, 3.0, 4.0]), [1.25, 2.5, 3.75, 5.0], "the source graph's outputs");
    assert_eq!(second.optimized_file.as_ref(), Some(&entry), "the entry is written again");
    assert_eq!(std::fs::read(&entry).unwrap(), saved);
    drop(second);

    // Without its record: made again, with one.
    std::fs::remove_file(entry.with_extension("sum")).unwrap();
    std::fs::write(&entry, &changed).unwrap();
    let third = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_eq!(run(&third, &[1.0; 4]), [1.25; 4]);
    assert!(entry.with_extension("sum").is_file());
    assert_eq!(std::fs::read(&entry).unwrap(), saved);

    // Unchanged, it is used as it is (not written again).
    let before = std::fs::metadata(&entry).unwrap();
    drop(third);
    let fourth = OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap();
    assert_eq!(run(&fourth, &[1.0; 4]), [1.25; 4]);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), before.ino(), "the same file");
    // Using an entry leaves its graph as it is (its record marks the use), so checking it again
    // needs no new hash: the index stays as long.
    drop(fourth);
    let lines = || std::fs::read_to_string(cache.join("index.tsv")).unwrap().lines().count();
    let (indexed, ctime) = (lines(), std::fs::metadata(&entry).unwrap().ctime_nsec());
    for _ in 0..3 {
        drop(OnnxSession::open(&graph, Device::Cpu, &o, None).unwrap());
    }
    assert_eq!(lines(), indexed, "no entry hashed again");
    assert_eq!(std::fs::metadata(&entry).unwrap().ctime_nsec(), ctime, "the graph untouched");
    std::fs::remove_dir_all(&d).unwrap();
}
