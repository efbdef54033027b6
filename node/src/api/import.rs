//! `POST /v1/import`: signed listings as text lines (`swapmeet export`'s), through the one
//! ingest path, each with its outcome.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportBody {
    lines: Vec<String>,
}

/// The JSON of one ingest outcome.
pub fn outcome_json(o: &IngestOutcome) -> Value {
    match o {
        IngestOutcome::Stored { id, seq, .. } => {
            json!({"outcome": "stored", "id": id.to_string(), "seq": seq})
        }
        IngestOutcome::Duplicate { id, seq } => {
            json!({"outcome": "duplicate", "id": id.to_string(), "seq": seq})
        }
        IngestOutcome::Stale {
            id,
            seq,
            current_seq,
        } => json!({
            "outcome": "stale", "id": id.to_string(), "seq": seq, "current_seq": current_seq,
            "reason": format!("a newer version (seq {current_seq}) is stored"),
        }),
        IngestOutcome::OutOfArea { id } => json!({
            "outcome": "out_of_area", "id": id.to_string(),
            "reason": "the listing is outside the areas this node follows",
        }),
        IngestOutcome::Blocked { id } => json!({
            "outcome": "blocked", "id": id.to_string(),
            "reason": "the seller is blocked on this node (`swapmeet unblock` lifts it)",
        }),
        IngestOutcome::OverAllowance { id, reason, .. } => json!({
            "outcome": "over_allowance", "id": id.to_string(), "reason": reason,
        }),
        IngestOutcome::Rejected { reason, .. } => json!({"outcome": "rejected", "reason": reason}),
        // Reviews (issue 12): `swapmeet import` takes a review's `swapmeet1:` line too.
        IngestOutcome::ReviewStored {
            deal,
            by,
            about,
            replaced,
            ..
        } => json!({
            "outcome": "stored", "kind": "review", "deal": deal, "by": by, "about": about,
            "replaced": replaced,
        }),
        IngestOutcome::ReviewDuplicate { deal, by } => {
            json!({"outcome": "duplicate", "kind": "review", "deal": deal, "by": by})
        }
        IngestOutcome::ReviewStale { deal, by, .. } => json!({
            "outcome": "stale", "kind": "review", "deal": deal, "by": by,
            "reason": "a later review by the same party of the same deal is stored",
        }),
        IngestOutcome::ReviewRejected { reason, .. } => {
            json!({"outcome": "rejected", "kind": "review", "reason": reason})
        }
        IngestOutcome::ReviewBlocked { by } => json!({
            "outcome": "blocked", "kind": "review", "by": by,
            "reason": "its writer is blocked on this node (`swapmeet unblock` lifts it)",
        }),
    }
}

pub(crate) async fn import(
    State(s): St,
    w: Result<Query<WaitParam>, QueryRejection>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let wait = wait_of(w)?;
    let b: ImportBody = json_body(body).await?;
    if b.lines.len() > MAX_IMPORT_LINES {
        return Err(ApiError::field(
            "lines",
            format!(
                "{} lines, the limit is {MAX_IMPORT_LINES} per request",
                b.lines.len()
            ),
        ));
    }
    let results = blocking(move || {
        let mut results: Vec<Option<Value>> = vec![None; b.lines.len()];
        let mut decoded = Vec::new();
        let mut slots = Vec::new();
        for (i, line) in b.lines.iter().enumerate() {
            match envelope_from_text(line) {
                Ok(bytes) => {
                    decoded.push(bytes);
                    slots.push(i);
                }
                Err(e) => results[i] = Some(json!({"outcome": "rejected", "reason": e})),
            }
        }
        let refs: Vec<&[u8]> = decoded.iter().map(Vec::as_slice).collect();
        let outcomes = s.engine.ingest_bytes(&refs, Source::Import)?;
        let stored = outcomes.iter().any(IngestOutcome::is_stored);
        if stored {
            s.engine.durable()?;
        }
        for (slot, o) in slots.into_iter().zip(outcomes) {
            results[slot] = Some(outcome_json(&o));
        }
        let results: Vec<Value> = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r =
                    r.unwrap_or_else(|| json!({"outcome": "rejected", "reason": "not processed"}));
                r["line"] = json!(i + 1);
                r
            })
            .collect::<Vec<_>>();
        let mut answer = json!({ "results": results });
        if stored {
            // One commit for the whole request, however many lines it stored.
            answer = searchable(&s.engine, wait, answer);
        } else {
            // Nothing changed, so nothing waits to become searchable.
            answer["searchable"] = json!(true);
        }
        Ok(answer)
    })
    .await?;
    Ok(Json(results))
}
