//! Committed test vectors of negotiation: an offer and a void message, a deal receipt (bytes
//! and text form) and a review, with
//! fixed keys, their exact bytes and hashes. A change to these formats fails here, so it can
//! only be deliberate (update docs/PROTOCOL.md section 12 and these vectors together).

use swapmeet_protocol::{
    Currency, DealReceipt, DealTerms, DirectMessage, EnvelopeHash, EnvelopeKind, ListingRef,
    MessageBody, Move, OfferTerms, Review, SecretKey, SignedEnvelope, ThreadId, VoidReason,
};

/// The time the vectors are checked at.
const NOW: u64 = 1_750_000_000;
/// The listing version of the listing vector in `vectors.rs`.
const LISTING_HASH: &str = "d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac";

fn seller() -> SecretKey {
    SecretKey::from_bytes([1u8; 32])
}
fn buyer() -> SecretKey {
    SecretKey::from_bytes([2u8; 32])
}

fn offer() -> DirectMessage {
    let about = ListingRef {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: LISTING_HASH.parse().unwrap(),
    };
    let b = buyer().public();
    DirectMessage {
        recipient: seller().public(),
        buyer: b,
        thread: ThreadId::derive(&about.id(), &b),
        seq: 2,
        sent_at: 1_749_999_800,
        expires_at: 1_749_999_800 + 14 * 86_400,
        about,
        body: MessageBody::Negotiation(Move::Offer(OfferTerms::with_default_expiry(
            20_000,
            Currency::new("EUR").unwrap(),
            1,
            1_749_999_800,
        ))),
    }
}

/// The seller voids the deal of the receipt below (sold out).
fn void() -> DirectMessage {
    let mut m = offer();
    m.recipient = buyer().public();
    m.seq = 3;
    m.sent_at = 1_749_999_910;
    m.expires_at = 1_749_999_910 + 14 * 86_400;
    m.body = MessageBody::Negotiation(Move::Void {
        accept: EnvelopeHash([0xac; 32]),
        reason: VoidReason::SoldOut,
    });
    m
}

/// The terms of the deal made when the seller accepted the offer (the accept's hash is fixed
/// here: the vector pins the receipt's format, not a whole thread).
fn terms() -> DealTerms {
    DealTerms {
        seller: seller().public(),
        item_key: "bike-1".into(),
        version: LISTING_HASH.parse().unwrap(),
        buyer: buyer().public(),
        amount_minor: 20_000,
        currency: Currency::new("EUR").unwrap(),
        quantity: 1,
        accepted_at: 1_749_999_900,
        accept: EnvelopeHash([0xac; 32]),
    }
}

fn receipt() -> DealReceipt {
    let t = terms();
    DealReceipt::assemble(&t, t.sign(&buyer()).unwrap(), t.sign(&seller()).unwrap()).unwrap()
}

fn review() -> Review {
    Review {
        receipt: receipt(),
        about: seller().public(),
        rating: 5,
        text: "Bike as described, friendly handover.".into(),
        written_at: 1_749_999_950,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const OFFER_HEX: &str = "85010358208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39458d7a900010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0258208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940358202914cfd2ff6f602f34488ab523480effe9c9a66653b6f84ecfc1af4f1874378b0402051a684ee0b8061a686155b8078358208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6662696b652d315820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac088502194e2063455552011a685183b8584099f29b91b223d065dc559dfc176aec21db8810f0f669077de2161849c15fd0d4387dc2d7420204ae9e218e74acbf06ff97aae5021657d939c41a4738847a2603";
const OFFER_HASH: &str = "0bddcb57ae2e31aec6e19eb92fe8f6c6813cc9013b7fdfa6e09efc035d35399c";
const DEAL_TERMS_HEX: &str = "aa00010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c026662696b652d31035820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac0458208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39405194e2006634555520701081a684ee11c095820acacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacac";
const DEAL_RECEIPT_HEX: &str = "840158a8aa00010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c026662696b652d31035820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac0458208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39405194e2006634555520701081a684ee11c095820acacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacac5840ac402d6a63b6649f3a500682c2c602a9d61534088f077956ce626bf95c624dca26a784d0568d64ecbc1f8b72efeb5721e2f84fc202bb436d9df2b72997b6420e5840d230ee6eeac6830a610ed87101b907a6012f1d48cdd52f69675e0deb5ac1abba795bc18f972e6326aedb383a7ffb7b3bf7cabcf0cc4aae6e8e11a737b47fbf09";
const DEAL_ID: &str = "d73c5a94638c97cf5ef48b604977c82879b99c6701184d1bc0d8e30d72dccf6b";
const REVIEW_HEX: &str = "85010558208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39459018aa6000101590130840158a8aa00010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c026662696b652d31035820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac0458208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39405194e2006634555520701081a684ee11c095820acacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacac5840ac402d6a63b6649f3a500682c2c602a9d61534088f077956ce626bf95c624dca26a784d0568d64ecbc1f8b72efeb5721e2f84fc202bb436d9df2b72997b6420e5840d230ee6eeac6830a610ed87101b907a6012f1d48cdd52f69675e0deb5ac1abba795bc18f972e6326aedb383a7ffb7b3bf7cabcf0cc4aae6e8e11a737b47fbf090258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c030504782542696b65206173206465736372696265642c20667269656e646c792068616e646f7665722e051a684ee14e5840755fd3e07987be80946d65e62fe23da724fab2109e4ace0508e1eff47d7e02cb10b35eec4b1cb2221d9ac558e636d0708485d7453539245a1be5538009563e0e";
const VOID_HEX: &str = "85010358208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58eda900010158208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940258208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940358202914cfd2ff6f602f34488ab523480effe9c9a66653b6f84ecfc1af4f1874378b0403051a684ee126061a68615626078358208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6662696b652d315820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac0883085820acacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacac0158401648a1427bbd597c40c2171d1db55011cf1a28c8d229eea07044900e1d4100a8cbc8ff49e9ae9a50000db11c2b184ca3ef383499ff226c6818f17068cd299004";
const RECEIPT_TEXT: &str = "swapmeet-deal1:hAFYqKoAAQFYIIqI4910CfGV_VLbLTy6XXLKZwm_HZQSG_N0iAG0D29cAmZiaWtlLTEDWCDSMrZB6ElwY_-MR5QzZV7-n-65ji0MwxTqeHZNmAmMrARYIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOUBRlOIAZjRVVSBwEIGmhO4RwJWCCsrKysrKysrKysrKysrKysrKysrKysrKysrKysrKysrFhArEAtamO2ZJ86UAaCwsYCqdYVNAiPB3lWzmJr-VxiTcomp4TQVo1k7Lwfi3Lv61ch4vhPwgK7Q22d8rcpl7ZCDlhA0jDuburGgwphDthxAbkHpgEvHUjN1S9pZ14N61rBq7p5W8GPly5jJq7bODp_-3s798q88MxKrm6OEac3tH-_CQ";
const REVIEW_HASH: &str = "88b222b61ac0246cc18513fc6639e9d00ef50260e676ac877aad218f8e93fff2";

#[test]
fn negotiation_records_reproduce_the_committed_bytes() {
    let env = offer().sign(&buyer()).unwrap();
    assert_eq!(hex(env.as_bytes()), OFFER_HEX);
    assert_eq!(env.hash().to_string(), OFFER_HASH);
    assert_eq!(hex(&terms().encode()), DEAL_TERMS_HEX);
    assert_eq!(hex(&receipt().encode()), DEAL_RECEIPT_HEX);
    assert_eq!(receipt().to_text(), RECEIPT_TEXT);
    let v = void().sign(&seller()).unwrap();
    assert_eq!(hex(v.as_bytes()), VOID_HEX);
    assert_eq!(terms().id().to_string(), DEAL_ID);
    let r = review().sign(&buyer()).unwrap();
    assert_eq!(hex(r.as_bytes()), REVIEW_HEX);
    assert_eq!(r.hash().to_string(), REVIEW_HASH);
}

#[test]
fn committed_negotiation_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(OFFER_HEX)).unwrap();
    assert_eq!(env.verify_message(NOW).unwrap().payload(), &offer());

    let receipt = DealReceipt::decode(&unhex(DEAL_RECEIPT_HEX)).unwrap();
    assert_eq!(receipt.verify().unwrap(), &terms());
    assert_eq!(receipt.id().to_string(), DEAL_ID);
    let from_text = DealReceipt::from_text(RECEIPT_TEXT).unwrap();
    assert_eq!(from_text.verify().unwrap(), &terms());

    let env = SignedEnvelope::decode(&unhex(VOID_HEX)).unwrap();
    let v = env.verify_message(NOW).unwrap();
    assert_eq!(v.payload(), &void());
    assert_eq!(v.signer(), seller().public());

    let env = SignedEnvelope::decode(&unhex(REVIEW_HEX)).unwrap();
    assert_eq!(env.kind(), EnvelopeKind::Review);
    let v = env.verify_review(NOW).unwrap();
    assert_eq!(v.payload(), &review());
    assert_eq!(v.signer(), buyer().public());
    assert_eq!(v.summary().deal.to_string(), DEAL_ID);
}
