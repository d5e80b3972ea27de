//! docker-compose.yaml cannot run here (no Docker engine), so this checks
//! what can be checked: it parses; the services, host ports and mounted
//! stream file are the ones the README names; and stream.yaml, interpolated
//! with the Bento service's environment, points at the compose services.

use std::path::Path;

use serde_yaml_ng::Value;
use streamprobe::pipeline::config::{self, Input, Output};

fn compose() -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yaml"))
            .unwrap();
    serde_yaml_ng::from_str(&text).expect("docker-compose.yaml is valid YAML")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn services_ports_and_stream_mount() {
    let c = compose();
    let services = &c["services"];
    for s in ["rabbitmq", "kafka", "bento"] {
        assert!(services.get(s).is_some(), "service {s} missing");
    }
    assert!(
        services["rabbitmq"]["image"]
            .as_str()
            .unwrap()
            .starts_with("rabbitmq:4."),
        "RabbitMQ 4.x"
    );
    assert!(
        strings(&services["rabbitmq"]["ports"])
            .iter()
            .any(|p| p.ends_with(":5672:5672"))
    );
    assert!(strings(&services["kafka"]["ports"]).contains(&"127.0.0.1:9092:9092".to_owned()));
    let env = &services["kafka"]["environment"];
    assert_eq!(
        env["KAFKA_PROCESS_ROLES"].as_str(),
        Some("broker,controller"),
        "KRaft mode"
    );
    assert!(
        env["KAFKA_ADVERTISED_LISTENERS"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9092")
    );
    assert!(env.get("KAFKA_ZOOKEEPER_CONNECT").is_none());
    let bento = &services["bento"];
    assert!(
        bento["image"]
            .as_str()
            .unwrap()
            .contains("warpstreamlabs/bento")
    );
    assert!(
        strings(&bento["volumes"])
            .iter()
            .any(|v| v.starts_with("./stream.yaml:/stream.yaml"))
    );
    assert_eq!(strings(&bento["command"]), ["-c", "/stream.yaml"]);
    // ready means Bento's /ready (every input and output connected)
    assert!(
        strings(&bento["healthcheck"]["test"])
            .iter()
            .any(|a| a.ends_with(":4195/ready"))
    );
    assert!(strings(&bento["ports"]).contains(&"127.0.0.1:4195:4195".to_owned()));
    let conf = c["configs"]["rabbitmq_conf"]["content"].as_str().unwrap();
    assert!(conf.contains("deprecated_features.permit.amqp_address_v1 = true"));
    assert!(conf.contains("loopback_users = none"));
}

#[test]
fn stream_yaml_with_compose_environment_targets_the_services() {
    let c = compose();
    let env = &c["services"]["bento"]["environment"];
    let lookup = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stream.yaml");
    let raw = std::fs::read_to_string(&path).unwrap();
    let streams = config::parse_text(&path, &raw, lookup).unwrap();
    let Input::Amqp1(input) = &streams[0].config.input else {
        panic!("amqp_1 input")
    };
    assert_eq!(input.urls, ["amqp://rabbitmq:5672"]);
    assert_eq!(input.source_address, "EXTERNAL");
    let Output::Broker(b) = &streams[0].config.output else {
        panic!("broker output")
    };
    let Output::Kafka(k) = &b.outputs[0] else {
        panic!("kafka first")
    };
    assert_eq!(
        (k.addresses.as_slice(), k.topic.as_str()),
        (&["kafka:19092".to_owned()][..], "FOO")
    );
    let Output::Amqp1(a) = &b.outputs[1] else {
        panic!("amqp second")
    };
    assert_eq!(
        (a.urls.as_slice(), a.target_address.as_str()),
        (&["amqp://rabbitmq:5672".to_owned()][..], "FOO")
    );
    // and locally, with no environment, the seed's defaults apply
    let local = config::parse_text(&path, &raw, |_| None).unwrap();
    let Input::Amqp1(input) = &local[0].config.input else {
        panic!("amqp_1 input")
    };
    assert_eq!(
        (input.urls[0].as_str(), input.sasl.user.as_str()),
        ("amqp://localhost:5672", "guest")
    );
}
