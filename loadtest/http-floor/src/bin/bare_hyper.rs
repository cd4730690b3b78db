//! hyper's HTTP/1 server alone on tokio with two worker threads: the same two routes.

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn serve(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/livez") => Bytes::from_static(br#"{"status":"ok"}"#),
        ("POST", "/webhooks/tiktok") => {
            let b = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Bytes::from(format!(r#"{{"received":{}}}"#, b.len()))
        }
        _ => {
            return Ok(Response::builder()
                .status(404)
                .body(Full::new(Bytes::new()))
                .unwrap());
        }
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(format!(
            "127.0.0.1:{}",
            std::env::args().nth(1).expect("usage: bare_hyper PORT")
        ))
        .await
        .unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(serve))
                    .await;
            });
        }
    });
}
