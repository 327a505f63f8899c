//! The host side of typed messages: a `Router` with typed handlers and a
//! `Client` making typed requests (`msgwire::typed::net`).
//!
//! ```text
//! cargo run --example typed-host --features postcard
//! ```
//!
//! serves `NAME`, `WHO` and `READ` in-process (over `memory::pipe`) and
//! asks them; with an address it asks a device instead, e.g. the
//! `typed-device` example:
//!
//! ```text
//! cargo run --example typed-device --features postcard,embedded-io-async &
//! cargo run --example typed-host --features postcard -- 127.0.0.1:7879
//! ```

use std::sync::{Arc, Mutex};

use msgwire::net::{
    memory, Client, ClientConfig, Framed, FramedConfig, HandlerError, Router, Spawner,
};
use msgwire::typed::net::{request, typed};
use serde::{Deserialize, Serialize};

/// The device's messages, owned (`String` has the bytes of `&str`).
#[derive(Serialize, Deserialize, Debug)]
struct SetName {
    name: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct Reading {
    channel: u8,
    millivolts: i32,
}

/// What `typed-device` serves, as a host router.
fn router() -> Result<Router, msgwire::Error> {
    let name = Arc::new(Mutex::new(String::new()));
    let who = name.clone();
    Router::new()
        .on(
            "NAME",
            typed(move |req: SetName| {
                let name = name.clone();
                async move {
                    if req.name.len() > 16 {
                        return Err(HandlerError::with_code("too-long", "16 bytes at most"));
                    }
                    let len = req.name.len() as u8;
                    *name.lock().unwrap() = req.name;
                    Ok(len)
                }
            }),
        )?
        .on(
            "WHO",
            typed(move |()| {
                let name = who.lock().unwrap().clone();
                async move { Ok::<_, HandlerError>(name) }
            }),
        )?
        .on(
            "READ",
            typed(|channel: u8| async move {
                if channel > 3 {
                    return Err(HandlerError::with_code("no-channel", "channels are 0 to 3"));
                }
                let millivolts = 1200 + 100 * i32::from(channel);
                Ok(Reading {
                    channel,
                    millivolts,
                })
            }),
        )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures_lite::future::block_on(async {
        let client = match std::env::args().nth(1) {
            Some(addr) => Client::connect_tcp(addr.as_str(), ClientConfig::default()).await?,
            None => {
                let (client_end, server_end) = memory::pipe(64);
                let router = router()?;
                std::thread::spawn(move || {
                    futures_lite::future::block_on(async {
                        let mut conn = Framed::sniffing(server_end, FramedConfig::default());
                        router.serve(&mut conn).await
                    })
                });
                Client::new(client_end, ClientConfig::default())
            }
        };
        // The client's background work (its reader, writer and timeouts)
        // runs on smol's executor.
        let client = client
            .start(&Spawner::new(|task| smol::spawn(task).detach()))
            .expect("start");
        let name = SetName {
            name: "pump-7".into(),
        };
        let len: u8 = request(&client, "NAME", &name).await?;
        let who: String = request(&client, "WHO", &()).await?;
        println!("NAME {name:?} -> {len}; WHO -> {who:?}");
        let reading: Reading = request(&client, "READ", &2u8).await?;
        println!("READ 2 -> {reading:?}");
        // Typed errors: the handler's own code, a payload that is no `u8`
        // (it needs one byte), an answer of the wrong type.
        let r: Result<Reading, _> = request(&client, "READ", &9u8).await;
        println!("READ 9 -> {}", r.unwrap_err());
        let r: Result<Reading, _> = request(&client, "READ", &()).await;
        println!("READ () -> {}", r.unwrap_err());
        let r: Result<bool, _> = request(&client, "NAME", &name).await;
        println!("NAME as bool -> {}", r.unwrap_err());
        client.send("EXIT", b"").await?;
        Ok(())
    })
}
