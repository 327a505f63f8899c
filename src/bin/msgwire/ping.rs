//! `msgwire ping`: round trips one at a time, like ping(8).

use std::process::ExitCode;
use std::time::Instant;

use async_io::block_on;
use msgwire::net::{Client, ClientConfig, Spawner};

use crate::args::PingArgs;
use crate::common::{live, open_client};
use crate::json;
use crate::stats::{ms, us, Latencies, Summary};
use crate::Outcome;

pub fn run(a: PingArgs) -> Outcome {
    let live = live(a.json);
    block_on(async {
        let client = open_client(&a.to, ClientConfig::default())
            .await?
            .start(&Spawner::global())?;
        if !a.json {
            println!("PING {}: {} bytes of payload", a.to, a.size);
        }
        let rtts = pings(&client, &a, live).await;
        let summary = rtts.summary();
        if a.json {
            println!("{}", summary_json(&a, &summary));
        } else {
            print_summary(&a, &summary);
        }
        Ok(if summary.count == a.count {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Sends the PINGs, `a.interval` apart; on a terminal, one line per
/// answer. A PING that fails is told on stdout on a terminal, else on
/// stderr (stdout then has the summary alone).
async fn pings(client: &Client, a: &PingArgs, live: bool) -> Latencies {
    let payload = vec![b'p'; a.size];
    let mut rtts = Latencies::new();
    let failed = |line: String| {
        if live {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    for seq in 1..=a.count {
        let started = Instant::now();
        match client.request("PING", &payload).await {
            Ok(reply) if reply.kind == "PONG" => {
                let rtt = started.elapsed();
                rtts.record(rtt);
                if live {
                    println!(
                        "{} bytes from {}: seq={seq} time={} ms",
                        reply.payload.len(),
                        a.to,
                        ms(rtt)
                    );
                }
            }
            Ok(reply) => failed(format!("seq={seq}: unexpected answer {}", reply.kind)),
            Err(e) => failed(format!("seq={seq}: {e}")),
        }
        if seq < a.count {
            async_io::Timer::after(a.interval).await;
        }
    }
    rtts
}

fn loss_percent(sent: u64, received: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        100.0 * (sent - received) as f64 / sent as f64
    }
}

fn print_summary(a: &PingArgs, s: &Summary) {
    println!("--- {} ping statistics ---", a.to);
    println!(
        "{} sent, {} received, {:.0}% loss",
        a.count,
        s.count,
        loss_percent(a.count, s.count)
    );
    if let (Some(min), Some(avg), Some(p50), Some(p99), Some(max)) =
        (s.min, s.mean, s.p50, s.p99, s.max)
    {
        println!(
            "rtt min/avg/p50/p99/max = {}/{}/{}/{}/{} ms",
            ms(min),
            ms(avg),
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
}

/// The summary as one JSON object; the latencies are `null` when no PING
/// was answered.
fn summary_json(a: &PingArgs, s: &Summary) -> String {
    json::Object::new()
        .str("command", "ping")
        .str("to", &a.to.to_string())
        .uint("size_bytes", a.size as u64)
        .float("interval_s", a.interval.as_secs_f64(), 3)
        .uint("sent", a.count)
        .uint("received", s.count)
        .float("loss_percent", loss_percent(a.count, s.count), 1)
        .opt_float("min_us", us(s.min), 3)
        .opt_float("avg_us", us(s.mean), 3)
        .opt_float("p50_us", us(s.p50), 3)
        .opt_float("p90_us", us(s.p90), 3)
        .opt_float("p99_us", us(s.p99), 3)
        .opt_float("max_us", us(s.max), 3)
        .finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loss() {
        assert_eq!(super::loss_percent(0, 0), 0.0);
        assert_eq!(super::loss_percent(4, 3), 25.0);
    }
}
