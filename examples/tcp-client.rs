//! A client for `examples/tcp-server.rs` (or `msgwire serve`).
//!
//! Run the server first, then `cargo run --example tcp-client`.

use msgwire::net::{Client, ClientConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        // Any address `bind_tcp` takes: "host:port", a SocketAddr, (host, port).
        let client = Client::connect_tcp("127.0.0.1:7878", ClientConfig::default()).await?;
        // The client's background work (timeouts, unsolicited messages)
        // runs as one task on smol's executor.
        smol::spawn(client.run()).detach();

        // Requests get automatic ids; answers are matched to them.
        let pong = client.request("PING", b"hello").await?;
        println!("PING -> {} {:?}", pong.kind, pong.text());
        println!("round trip: {:?}", client.ping().await?);

        // An ERROR answer is a typed error with the server's code.
        match client.request("time", b"oops").await {
            Ok(reply) => println!("time -> {:?}", reply.text()),
            Err(e) => println!("time oops -> {e}"),
        }
        match client.request("time", b"").await {
            Ok(reply) => println!("time -> {:?}", reply.text()),
            Err(e) => println!("time -> {e}"),
        }
        Ok(())
    })
}
