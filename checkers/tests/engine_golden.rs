//! Golden histories for every model: small, readable, each with the verdict it must get.
//!
//! One line per event: `process type f [key] value`, where value is JSON. Positions in
//! the text are the real-time order.

use checkers::{check, CheckOptions, Event, EventType, History, ModelKind, Process, Verdict};

/// Parses the compact notation `p type f key=K value` (key optional).
fn history(text: &str) -> History {
    let events = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, line)| {
            let mut parts = line.splitn(4, ' ');
            let process: u64 = parts.next().unwrap().parse().unwrap();
            let kind = match parts.next().unwrap() {
                "invoke" => EventType::Invoke,
                "ok" => EventType::Ok,
                "fail" => EventType::Fail,
                "info" => EventType::Info,
                other => panic!("bad type {other}"),
            };
            let f = parts.next().unwrap().to_string();
            let mut rest = parts.next().unwrap_or("null").to_string();
            let mut key = None;
            if let Some(stripped) = rest.strip_prefix("key=") {
                let (k, v) = stripped.split_once(' ').unwrap_or((stripped, "null"));
                key = Some(k.to_string());
                rest = v.to_string();
            }
            Event {
                index: i as u64,
                time: None,
                process: Process::Client(process),
                kind,
                f,
                key,
                value: serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{line}: {e}")),
                error: None,
                node: None,
            }
        })
        .collect();
    History::from_events(events).unwrap()
}

fn verdict(model: ModelKind, text: &str) -> Verdict {
    let report = check(&history(text), &CheckOptions::new(model)).unwrap();
    report.verdict
}

#[test]
fn register_ok_concurrent_write_and_read() {
    let h = "
        1 invoke write 1
        2 invoke read null
        2 ok read 1
        1 ok write 1
        2 invoke read null
        2 ok read 1";
    assert_eq!(verdict(ModelKind::Register, h), Verdict::Valid);
}

#[test]
fn register_bad_read_of_an_overwritten_value() {
    let h = "
        1 invoke write 1
        1 ok write 1
        1 invoke write 2
        1 ok write 2
        2 invoke read null
        2 ok read 1";
    assert_eq!(verdict(ModelKind::Register, h), Verdict::Invalid);
}

#[test]
fn register_bad_reads_that_disagree_on_order() {
    // Two writes overlap; one reader sees 1 then 2, another (later) sees 2 then 1.
    let h = "
        1 invoke write 1
        2 invoke write 2
        1 ok write 1
        2 ok write 2
        3 invoke read null
        3 ok read 2
        4 invoke read null
        4 ok read 1";
    assert_eq!(verdict(ModelKind::Register, h), Verdict::Invalid);
}

#[test]
fn cas_register_ok_and_bad() {
    let ok = "
        1 invoke write 0
        1 ok write 0
        1 invoke cas [0,1]
        2 invoke cas [0,2]
        1 ok cas [0,1]
        2 fail cas [0,2]
        3 invoke read null
        3 ok read 1";
    assert_eq!(verdict(ModelKind::CasRegister, ok), Verdict::Valid);
    let bad = "
        1 invoke write 0
        1 ok write 0
        1 invoke cas [0,1]
        1 ok cas [0,1]
        2 invoke cas [0,2]
        2 ok cas [0,2]";
    assert_eq!(verdict(ModelKind::CasRegister, bad), Verdict::Invalid);
}

#[test]
fn kv_ok_and_bad_per_key_and_as_one_map() {
    let ok = "
        1 invoke put key=a \"x\"
        2 invoke append key=b \"y\"
        1 ok put key=a \"x\"
        2 ok append key=b \"y\"
        1 invoke append key=a \"z\"
        1 ok append key=a \"z\"
        3 invoke get key=a null
        3 ok get key=a \"xz\"
        3 invoke get key=c null
        3 ok get key=c \"\"";
    let bad = "
        1 invoke append key=a \"x\"
        1 ok append key=a \"x\"
        1 invoke append key=a \"y\"
        1 ok append key=a \"y\"
        2 invoke get key=a null
        2 ok get key=a \"yx\"";
    for partition in [true, false] {
        let mut options = CheckOptions::new(ModelKind::Kv);
        options.partition = partition;
        assert_eq!(check(&history(ok), &options).unwrap().verdict, Verdict::Valid, "partition {partition}");
        assert_eq!(
            check(&history(bad), &options).unwrap().verdict,
            Verdict::Invalid,
            "partition {partition}"
        );
    }
}

#[test]
fn kv_initial_value_is_configurable() {
    let h = "
        1 invoke get key=a null
        1 ok get key=a \"seed\"";
    assert_eq!(verdict(ModelKind::Kv, h), Verdict::Invalid);
    let mut options = CheckOptions::new(ModelKind::Kv);
    options.initial = Some(serde_json::json!("seed"));
    assert_eq!(check(&history(h), &options).unwrap().verdict, Verdict::Valid);
}

#[test]
fn set_ok_and_bad() {
    let ok = "
        1 invoke add 1
        2 invoke add 2
        1 ok add 1
        3 invoke read null
        3 ok read [1]
        2 ok add 2
        3 invoke read null
        3 ok read [2,1]";
    assert_eq!(verdict(ModelKind::Set, ok), Verdict::Valid);
    let bad = "
        1 invoke add 1
        1 ok add 1
        3 invoke read null
        3 ok read []";
    assert_eq!(verdict(ModelKind::Set, bad), Verdict::Invalid);
}

#[test]
fn mutex_ok_and_bad() {
    let ok = "
        1 invoke acquire null
        1 ok acquire null
        2 invoke acquire null
        1 invoke release null
        1 ok release null
        2 ok acquire null";
    assert_eq!(verdict(ModelKind::Mutex, ok), Verdict::Valid);
    let bad = "
        1 invoke acquire null
        1 ok acquire null
        2 invoke acquire null
        2 ok acquire null
        1 invoke release null
        1 ok release null";
    assert_eq!(verdict(ModelKind::Mutex, bad), Verdict::Invalid);
}

#[test]
fn keys_are_independent_objects_for_every_model() {
    // Each key alone is fine, though as one register the reads would contradict.
    let h = "
        1 invoke write key=a 1
        1 ok write key=a 1
        2 invoke write key=b 2
        2 ok write key=b 2
        3 invoke read key=a null
        3 ok read key=a 1";
    let report = check(&history(h), &CheckOptions::new(ModelKind::Register)).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.stats.partitions, 2);
}

#[test]
fn bad_values_name_their_event_and_never_panic() {
    let h = "
        1 invoke write 1
        1 ok write 1
        2 invoke cas 5
        2 ok cas 5";
    let err = check(&history(h), &CheckOptions::new(ModelKind::CasRegister)).unwrap_err();
    assert_eq!(err.event, Some(2));
    assert!(err.to_string().starts_with("event 2: cas value must be [from, to]"), "{err}");
    let err = check(&history(h), &CheckOptions::new(ModelKind::Mutex)).unwrap_err();
    assert!(err.message.contains("the mutex model has no operation \"write\""), "{err}");
    let err = check(
        &history("1 invoke add 1\n1 ok add 1\n2 invoke read null\n2 ok read 7"),
        &CheckOptions::new(ModelKind::Set),
    )
    .unwrap_err();
    assert_eq!(err.event, Some(2));
    let mut options = CheckOptions::new(ModelKind::Set);
    options.initial = Some(serde_json::json!("no"));
    assert!(check(&history("1 invoke add 1"), &options).unwrap_err().message.contains("must be an array"));
}

#[test]
fn an_empty_history_is_not_a_pass() {
    let report = check(&History::default(), &CheckOptions::new(ModelKind::Register)).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.reason.contains("no operations"), "{}", report.reason);
}

#[test]
fn a_history_whose_every_op_failed_is_linearizable_but_tested_nothing() {
    // Nothing took effect: the empty linearization explains it, as Knossos and Porcupine
    // say. The run's own vacuity rule (the stats check of `faultline test`) is what keeps
    // such a run from passing.
    let h = history(
        "1 invoke write 1
         2 invoke cas [1, 2]
         1 fail write 1
         2 fail cas [1, 2]
         3 invoke read null
         3 fail read null",
    );
    let report = check(&h, &CheckOptions::new(ModelKind::CasRegister)).unwrap();
    assert_eq!(report.verdict, Verdict::Valid, "{}", report.reason);
    assert!(report.reason.contains("nothing took effect (all 3 operations failed"), "{}", report.reason);
    let stats = checkers::stats::check(&h, &[], None);
    assert_eq!(stats.verdict, Verdict::Unknown);
    assert!(
        stats.reasons.iter().any(|r| r.contains("almost nothing was acknowledged (0 ok of 3")),
        "{:?}",
        stats.reasons
    );
}
