//! The access rules over a stand-in router: who reaches admin routes from where, with what.
use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{HeaderMap, Request, StatusCode},
    middleware,
    routing::post,
    Router,
};
use doq_consensus::{
    secret::{NONCE_HEADER, PROOF_HEADER},
    ClusterSecret,
};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{Access, ClientAddr};

const LOCAL: &str = "127.0.0.1:40000";
const REMOTE: &str = "10.1.2.3:40000";

/// Every admin and ordinary route answers 200 with the body it got, behind `access`, as seen from `peer`.
fn app(access: Access, peer: &str) -> Router {
    let access = Arc::new(access);
    let echo = post(|body: String| async move { body });
    Router::new()
        .route("/API/v1/cluster/join", echo.clone())
        .route("/API/v1/cluster/leave", echo.clone())
        .route("/db/backup", echo.clone().get(|| async { "backup" }))
        .route("/db/restore", echo.clone())
        .route("/API/v1/queues", echo.clone())
        .route("/readyz", echo.clone())
        .route("/metrics", echo.get(|| async { "metrics" }))
        .layer(middleware::from_fn(move |req, next| {
            access.clone().check(req, next)
        }))
        .layer(MockConnectInfo(ClientAddr(
            peer.parse::<SocketAddr>().unwrap(),
        )))
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn post_to(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn without_a_token_admin_routes_are_local_only() {
    let remote = app(Access::new("", ""), REMOTE);
    for path in [
        "/db/backup",
        "/db/restore",
        "/API/v1/cluster/join",
        "/api/v1/cluster/leave/",
    ] {
        let (status, headers, body) = send(&remote, post_to(path, "{}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "admin_local_only");
        assert_eq!(v["detail"], "Forbidden");
        assert_eq!(
            v["errors"][0]["message"],
            "admin operations are local-only without auth.token"
        );
        assert!(!headers.contains_key(NONCE_HEADER), "no secret, no nonce");
    }
    // Ordinary routes and health stay open without a token.
    assert_eq!(
        send(&remote, post_to("/API/v1/queues", "{}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&remote, post_to("/readyz", "")).await.0,
        StatusCode::OK
    );
    let local = app(Access::new("", ""), LOCAL);
    for path in ["/db/backup", "/db/restore", "/API/v1/cluster/join"] {
        assert_eq!(
            send(&local, post_to(path, "{}")).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    let mapped = app(Access::new("", ""), "[::ffff:127.0.0.1]:1");
    assert_eq!(
        send(&mapped, post_to("/db/restore", "")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_a_token_admin_routes_need_it_from_anywhere() {
    let access = || Access::new("t0ken", "");
    let local = app(access(), LOCAL);
    let (status, headers, _) = send(&local, post_to("/db/restore", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"doq\"");
    let remote = app(access(), REMOTE);
    let mut req = post_to("/db/backup", "");
    req.headers_mut()
        .insert("authorization", "Bearer t0ken".parse().unwrap());
    assert_eq!(send(&remote, req).await.0, StatusCode::OK);
    let mut req = post_to("/API/v1/queues", "");
    req.headers_mut()
        .insert("authorization", "Bearer wrong".parse().unwrap());
    assert_eq!(send(&remote, req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&remote, post_to("/readyz", "")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_node_proving_the_secret_may_join_or_leave_from_anywhere() {
    for token in ["", "t0ken"] {
        let remote = app(Access::new(token, "s3cret"), REMOTE);
        let body = r#"{"id":"n1","addr":"10.1.2.3:9000"}"#;
        // First try: refused, with a nonce to prove the secret over.
        let (status, headers, _) = send(&remote, post_to("/API/v1/cluster/join", body)).await;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
            "{status}"
        );
        let nonce = headers[NONCE_HEADER].to_str().unwrap().to_owned();
        assert!(!nonce.contains("s3cret"));
        let secret = ClusterSecret::new("s3cret").unwrap();
        let proven = |path: &str, signed: &str, sent: &str| {
            let mut req = post_to(path, sent);
            req.headers_mut().insert(
                PROOF_HEADER,
                secret
                    .prove(&nonce, path, signed.as_bytes())
                    .parse()
                    .unwrap(),
            );
            req
        };
        let (status, _, echoed) = send(&remote, proven("/API/v1/cluster/join", body, body)).await;
        assert_eq!(status, StatusCode::OK, "token {token:?}");
        assert_eq!(echoed, body, "the handler still gets the body");
        let leave = r#"{"id":"n1"}"#;
        assert_eq!(
            send(&remote, proven("/API/v1/cluster/leave", leave, leave))
                .await
                .0,
            StatusCode::OK
        );
        // A proof for another body, another secret, or a non-membership route does not count.
        let other = r#"{"id":"evil","addr":"6.6.6.6:9000"}"#;
        assert_ne!(
            send(&remote, proven("/API/v1/cluster/join", body, other))
                .await
                .0,
            StatusCode::OK
        );
        assert_ne!(
            send(&remote, proven("/db/restore", "", "")).await.0,
            StatusCode::OK
        );
        let mut forged = post_to("/API/v1/cluster/join", body);
        let wrong = ClusterSecret::new("guess").unwrap();
        forged.headers_mut().insert(
            PROOF_HEADER,
            wrong
                .prove(&nonce, "/API/v1/cluster/join", body.as_bytes())
                .parse()
                .unwrap(),
        );
        assert_ne!(send(&remote, forged).await.0, StatusCode::OK);
    }
}

#[test]
fn the_startup_line_says_how_admin_routes_are_protected() {
    assert!(Access::new("", "")
        .describe()
        .contains("loopback clients only"));
    assert!(Access::new("t", "").describe().contains("need auth.token"));
}

#[tokio::test]
async fn metrics_need_the_token_only_when_protected() {
    let get = |auth: Option<&str>| {
        let mut req = Request::get("/metrics");
        if let Some(token) = auth {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.body(Body::empty()).unwrap()
    };
    let open = app(Access::new("t0ken", ""), REMOTE);
    assert_eq!(send(&open, get(None)).await.0, StatusCode::OK);
    let protected = app(Access::new("t0ken", "").protect_metrics(true), REMOTE);
    assert_eq!(
        send(&protected, get(None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&protected, get(Some("wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(&protected, get(Some("t0ken"))).await.0, StatusCode::OK);
    // Without a token there is nothing to check: protected metrics stay readable, like `/API/…`.
    let tokenless = app(Access::new("", "").protect_metrics(true), REMOTE);
    assert_eq!(send(&tokenless, get(None)).await.0, StatusCode::OK);
}
