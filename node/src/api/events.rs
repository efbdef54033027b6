//! `GET /v1/events`: the node's live events as server-sent events (listings unnamed; messages,
//! deliveries, alerts, negotiations, deals and reviews named).

use super::*;

pub(crate) async fn events(State(s): St) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let listings = tokio_stream::wrappers::BroadcastStream::new(s.engine.subscribe()).map(|item| {
        let data = match item {
            Ok(ev) => serde_json::to_string(&ev).unwrap_or_default(),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                json!({"change": "lagged", "missed": n}).to_string()
            }
        };
        SseEvent::default().data(data)
    });
    // Message events carry an SSE event name (`message`, `delivery`), so a client that reads
    // only unnamed events (listing changes) is not confused by them.
    let messages = tokio_stream::wrappers::BroadcastStream::new(s.messenger.subscribe()).map(
        |item| match item {
            Ok(ev) => {
                let name = match &ev {
                    crate::messaging::MessagingEvent::Message { .. } => "message",
                    crate::messaging::MessagingEvent::Delivery { .. } => "delivery",
                };
                SseEvent::default()
                    .event(name)
                    .data(serde_json::to_string(&ev).unwrap_or_default())
            }
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                SseEvent::default()
                    .event("message")
                    .data(json!({"kind": "lagged", "missed": n}).to_string())
            }
        },
    );
    // Alerts are named `alert`, for the same reason.
    let alerts = tokio_stream::wrappers::BroadcastStream::new(s.alerts.subscribe()).map(|item| {
        let data = match item {
            Ok(a) => serde_json::to_string(&a).unwrap_or_default(),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                json!({"kind": "lagged", "missed": n}).to_string()
            }
        };
        SseEvent::default().event("alert").data(data)
    });
    // Market events are named `negotiation` and `deal` (issue 12).
    let market =
        tokio_stream::wrappers::BroadcastStream::new(s.market.subscribe()).map(|item| match item {
            Ok(ev) => {
                let name = match &ev {
                    crate::market::MarketEvent::Negotiation { .. } => "negotiation",
                    crate::market::MarketEvent::Deal { .. } => "deal",
                };
                SseEvent::default()
                    .event(name)
                    .data(serde_json::to_string(&ev).unwrap_or_default())
            }
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                SseEvent::default()
                    .event("negotiation")
                    .data(json!({"kind": "lagged", "missed": n}).to_string())
            }
        });
    // Reviews stored (issue 12) are named `review`.
    let reviews =
        tokio_stream::wrappers::BroadcastStream::new(s.engine.reviews().subscribe()).map(|item| {
            let data = match item {
                Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    json!({"kind": "lagged", "missed": n}).to_string()
                }
            };
            SseEvent::default().event("review").data(data)
        });
    let mut shutdown = s.shutdown.clone();
    let stream = futures::stream::select(
        futures::stream::select(futures::stream::select(listings, messages), alerts),
        futures::stream::select(market, reviews),
    )
    .map(Ok)
    .take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
