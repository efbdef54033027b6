//! Block lists (kind 7) as other implementations and nodes rely on them: committed bytes, one
//! record per author (the reserved item key), a newer list replacing an older one, and
//! rejections that name the field and the limit.

use swapmeet_protocol::limits::{MAX_BLOCKLIST_ENTRIES, MAX_BLOCK_REASON_CHARS};
use swapmeet_protocol::{
    decode_stored, BlockEntry, BlockList, EnvelopeKind, ListingId, Record, SecretKey,
    SignedEnvelope, BLOCKLIST_ITEM_KEY,
};

/// The time the vectors are checked at.
const NOW: u64 = 1_750_000_000;

fn author() -> SecretKey {
    SecretKey::from_bytes([3u8; 32])
}

fn list() -> BlockList {
    let mut l = BlockList {
        seq: 1,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        entries: vec![
            BlockEntry {
                seller: SecretKey::from_bytes([4u8; 32]).public(),
                reason: "counterfeit sneakers".into(),
            },
            BlockEntry {
                seller: SecretKey::from_bytes([5u8; 32]).public(),
                reason: String::new(),
            },
        ],
    };
    l.normalize();
    l
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const BLOCKLIST_HEX: &str = concat!(
    "8501075820ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1586fa500010101021a684e",
    "dd98031a6861529804828258206e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1608258",
    "20ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c74636f756e7465726665697420736e",
    "65616b657273584020835ff1abe66a7886f73e7c25fa345845b441398117dcc1705ca735bb15bc616f2e41aa6c0f3dfb",
    "7863486b814b415cba7e87648fc2dc6fe290818dcd9a4105",
);
const BLOCKLIST_ID: &str = "tauqprpwamowljvnd62mdbq6ye";

#[test]
fn vector_bytes_id_and_record() {
    let env = list().sign(&author()).unwrap();
    assert_eq!(hex(env.as_bytes()), BLOCKLIST_HEX);
    assert_eq!(env.kind(), EnvelopeKind::BlockList);
    let v = SignedEnvelope::decode(env.as_bytes())
        .unwrap()
        .verify(NOW)
        .unwrap();
    assert_eq!(v.payload(), &Record::BlockList(list()));
    let id = BlockList::id_of(&author().public());
    assert_eq!(v.listing_id(), id);
    assert_eq!(
        id,
        ListingId::derive(&author().public(), BLOCKLIST_ITEM_KEY)
    );
    assert_eq!(id.to_string(), BLOCKLIST_ID);
    // Routed in the shipping area every node follows; no cell.
    assert!(v.payload().ships());
    assert!(v.payload().area().is_none());
    let stored = decode_stored(env.as_bytes()).unwrap();
    assert_eq!(stored.record, Record::BlockList(list()));
}

#[test]
fn a_listing_can_never_take_the_lists_id() {
    // The reserved key holds a control character, which listing item keys may not.
    let e = swapmeet_protocol::Withdrawal {
        item_key: BLOCKLIST_ITEM_KEY.into(),
        seq: 2,
        signed_at: NOW,
        reason: swapmeet_protocol::WithdrawReason::Withdrawn,
        area: None,
        ships: true,
    }
    .sign(&author())
    .unwrap_err();
    assert!(e.to_string().contains("item_key"), "{e}");
}

#[test]
fn rejections_name_the_field_and_the_limit() {
    let mut l = list();
    l.entries[0].reason = "x".repeat(MAX_BLOCK_REASON_CHARS + 1);
    let e = l.sign(&author()).unwrap_err().to_string();
    assert!(
        e.contains("reason") && e.contains(&MAX_BLOCK_REASON_CHARS.to_string()),
        "{e}"
    );

    let mut l = list();
    l.entries = (0..=MAX_BLOCKLIST_ENTRIES as u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            BlockEntry {
                seller: SecretKey::from_bytes(seed).public(),
                reason: String::new(),
            }
        })
        .collect();
    l.normalize();
    let e = l.sign(&author()).unwrap_err().to_string();
    assert!(
        e.contains("entries") && e.contains(&MAX_BLOCKLIST_ENTRIES.to_string()),
        "{e}"
    );

    // Long reasons on a full list: the envelope cap names itself.
    l.entries.truncate(MAX_BLOCKLIST_ENTRIES);
    for e in &mut l.entries {
        e.reason = "r".repeat(MAX_BLOCK_REASON_CHARS);
    }
    let e = l.sign(&author()).unwrap_err().to_string();
    assert!(e.contains("envelope") && e.contains("16384"), "{e}");

    // Expired lists are refused like expired listings.
    let env = list().sign(&author()).unwrap();
    assert!(env.verify(list().expires_at).is_err());
}
