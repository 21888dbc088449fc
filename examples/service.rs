//! A small tokio service that dark-launches a rewritten lookup: every request is answered by
//! the old code; a sticky share of users also runs the rewrite in the background. Halfway
//! through, an operator turns the rate up; at the end the service shuts down gracefully and
//! prints what the experiment saw.
//!
//! Run: `cargo run --example service`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use darklaunch::{Experiment, ExperimentResult, Sampler};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Today's code: the stock level of a product.
async fn stock_v1(sku: u32) -> u32 {
    tokio::task::yield_now().await;
    (sku * 7) % 100
}

/// The rewrite: a new storage engine, slower, and wrong for one product in 97.
async fn stock_v2(sku: u32) -> u32 {
    tokio::time::sleep(Duration::from_micros(200)).await;
    if sku % 97 == 0 {
        (sku * 7) % 100 + 1
    } else {
        (sku * 7) % 100
    }
}

async fn serve(listener: TcpListener, experiment: Experiment<u32>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let experiment = experiment.clone();
        tokio::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // "<user> <sku>"
                let mut parts = line.split_whitespace();
                let (Some(user), Some(Ok(sku))) = (parts.next(), parts.next().map(str::parse))
                else {
                    let _ = writer.write_all(b"bad request\n").await;
                    continue;
                };
                let stock = experiment
                    .trial()
                    .key(user)
                    .context("sku", sku)
                    .control(stock_v1(sku))
                    .candidate("v2", stock_v2(sku))
                    .run_detached()
                    .await;
                if writer
                    .write_all(format!("{stock}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

async fn client(address: std::net::SocketAddr, id: u32, requests: u32) -> u32 {
    let stream = TcpStream::connect(address)
        .await
        .expect("connect to the service");
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut answered = 0;
    for request in 0..requests {
        let sku = (id * 1_000 + request) % 5_000;
        writer
            .write_all(format!("user-{} {sku}\n", (id * 31 + request) % 400).as_bytes())
            .await
            .expect("send a request");
        let answer = lines.next_line().await.expect("read").expect("an answer");
        assert_eq!(
            answer.parse::<u32>().ok(),
            Some((sku * 7) % 100),
            "users see the old answer"
        );
        answered += 1;
    }
    answered
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (sampler, rate) = Sampler::runtime_keyed(10.0);
    let printed = AtomicUsize::new(0);
    let experiment: Experiment<u32> = Experiment::builder("stock-v2")
        .sampler(sampler)
        .candidate_timeout(Duration::from_millis(50))
        .max_in_flight(256)
        .publisher(move |result: &ExperimentResult<u32>| {
            for candidate in result.mismatches() {
                // Show the first few; the stats count them all.
                if printed.fetch_add(1, Ordering::Relaxed) >= 5 {
                    return;
                }
                println!(
                    "mismatch: sku {} control {:?} candidate {:?}",
                    result
                        .context()
                        .get("sku")
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    result.control().value(),
                    candidate.observation().value()
                );
            }
        })
        .build()?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, experiment.clone()));

    let wave = |first: u32| {
        (first..first + 8)
            .map(|id| tokio::spawn(client(address, id, 500)))
            .collect::<Vec<_>>()
    };
    let mut answered = 0;
    for handle in wave(0) {
        answered += handle.await?;
    }
    println!(
        "after the first wave at 10 %: {} runs sampled",
        experiment.stats().sampled
    );
    rate.set_percent(50.0)?; // an operator (or a feature-flag service) turns it up
    for handle in wave(8) {
        answered += handle.await?;
    }

    let report = experiment.shutdown(Duration::from_secs(5)).await;
    server.abort();
    let stats = experiment.stats();
    println!("\nanswered {answered} requests");
    println!("shutdown: {report}");
    println!(
        "runs {}  sampled {}  matched {}  mismatched {}  timeouts {}  candidate errors {}",
        stats.runs,
        stats.sampled,
        stats.matched,
        stats.mismatched,
        stats.timeouts,
        stats.candidate_errors
    );
    println!(
        "published {}  shed {}  publish dropped {}  dropped {}  reconciles: {}",
        stats.published,
        stats.shed,
        stats.publish_dropped,
        stats.dropped,
        stats.reconciles()
    );
    Ok(())
}
