//! Committed test vectors: fixed keys and records, their exact bytes, ids and hashes. A change
//! to the wire format fails here, so it can only happen deliberately (update docs/PROTOCOL.md
//! and these vectors together). On a deliberate change, the failing assertions print the new
//! values to commit.

use swapmeet_protocol::{
    geo, open, seal_with_ephemeral, Category, Condition, Currency, Delivery, DirectMessage,
    EnvelopeHash, EnvelopeKind, ImageRef, ImageThumb, Listing, ListingId, ListingRef, Location,
    MessageBody, Price, Receipt, RecipientTag, Record, Sealed, SecretKey, SignedEnvelope, ThreadId,
    Variant, VariantOption, WithdrawReason, Withdrawal,
};

/// The time the vectors are checked at.
const NOW: u64 = 1_750_000_000;

fn seller() -> SecretKey {
    SecretKey::from_bytes([1u8; 32])
}

fn listing() -> Listing {
    Listing {
        item_key: "bike-1".into(),
        seq: 1,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        title: "Road bike, 56 cm".into(),
        description: "Steel frame.\nNew tyres.".into(),
        price: Price::Fixed {
            amount_minor: 25_000,
            currency: Currency::new("EUR").unwrap(),
        },
        condition: Condition::Good,
        category: Category::Bikes,
        tags: vec!["road".into(), "steel".into()],
        quantity: 1,
        location: Some(Location {
            geohash: geo::GeoHash::new("u33dc0").unwrap(),
            place: Some("Kreuzberg".into()),
        }),
        delivery: Delivery {
            pickup: true,
            shipping: false,
            ships_to: vec![],
        },
        images: vec![ImageRef {
            hash: [9u8; 32],
            mime: "image/jpeg".into(),
            size: 123_456,
            thumb: None,
        }],
        variants: vec![],
        stamp: None,
    }
}

fn eur(amount_minor: u64) -> Price {
    Price::Fixed {
        amount_minor,
        currency: Currency::new("EUR").unwrap(),
    }
}

fn option(name: &str, value: &str) -> VariantOption {
    VariantOption {
        name: name.into(),
        value: value.into(),
    }
}

/// A listing with variants (payload version 2): every variant field, a variant with its own
/// price, one without a SKU, one out of stock.
fn listing_with_variants() -> Listing {
    Listing {
        item_key: "magento:WH02".into(),
        seq: 3,
        signed_at: 1_749_999_000,
        expires_at: 1_751_208_600,
        title: "Hera Pullover Hoodie".into(),
        description: String::new(),
        price: eur(4800),
        condition: Condition::New,
        category: Category::ClothingShoes,
        tags: vec![],
        quantity: 7,
        location: None,
        delivery: Delivery {
            pickup: false,
            shipping: true,
            ships_to: vec![],
        },
        images: vec![],
        variants: vec![
            Variant {
                options: vec![option("size", "XS"), option("color", "Blue")],
                price: None,
                quantity: 4,
                sku: Some("WH02-XS-Blue".into()),
            },
            Variant {
                options: vec![option("size", "M"), option("color", "Green")],
                price: Some(eur(5200)),
                quantity: 3,
                sku: None,
            },
            Variant {
                options: vec![option("size", "L"), option("color", "Orange")],
                price: Some(eur(5600)),
                quantity: 0,
                sku: Some("WH02-L-Orange".into()),
            },
        ],
        stamp: None,
    }
}

fn withdrawal() -> Withdrawal {
    Withdrawal {
        item_key: "bike-1".into(),
        seq: 2,
        signed_at: 1_749_999_500,
        reason: WithdrawReason::Sold,
        area: Some(geo::GeoHash::new("u33dc0").unwrap()),
        ships: false,
    }
}

const SELLER_ID: &str = "smrkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oa";
const LISTING_ID: &str = "43pcp7j3ji3c3ijlq4ut3v2zgi";
const LISTING_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58aaae",
    "0001016662696b652d310201031a684edd98041a686152980570526f61642062696b652c20353620",
    "636d0677537465656c206672616d652e0a4e65772074797265732e07821961a86345555208030903",
    "0a8264726f616465737465656c0c8266753333646330694b7265757a626572670d8201800e818358",
    "2009090909090909090909090909090909090909090909090909090909090909096a696d6167652f",
    "6a7065671a0001e2405840444241948b84196db7929c82d501c7448c8350a350e3fd86968034d226",
    "6b260b3aa0abdc50768bd36de086c8032bb9617b92dd9655ba6ef3e1b1c6b16d817007",
);
const LISTING_HASH: &str = "d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac";
const WITHDRAWAL_HEX: &str = concat!(
    "85010258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c581da6",
    "0001016662696b652d310202031a684edf8c04010566753333646330584001b68e058a013774350d",
    "e63324dc5425d85badd9814b8b04b86cac0755c95a4e54c3507f330bfc00c863a474fcb7423f4cbe",
    "e4f685f94b1119d7a0cda15e1a02",
);
const WITHDRAWAL_HASH: &str = "84dcc9d1858de9ce196a0cc7d6a525b7c735269e6b6ad0c71f9c7fb8c3a59c17";

const VARIANTS_PAYLOAD_HEX: &str = concat!(
    "ac0002016c6d6167656e746f3a574830320203031a684edd98041a68615298057448657261205075",
    "6c6c6f76657220486f6f64696507821912c063455552080109050b070d8202800f83a30082826473",
    "697a656258538265636f6c6f7264426c75650204036c574830322d58532d426c7565a30082826473",
    "697a65614d8265636f6c6f7265477265656e0182191450634555520203a40082826473697a65614c",
    "8265636f6c6f72664f72616e676501821915e0634555520200036d574830322d4c2d4f72616e6765",
);
const VARIANTS_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58c8ac",
    "0002016c6d6167656e746f3a574830320203031a684edd98041a686152980574486572612050756c",
    "6c6f76657220486f6f64696507821912c063455552080109050b070d8202800f83a3008282647369",
    "7a656258538265636f6c6f7264426c75650204036c574830322d58532d426c7565a3008282647369",
    "7a65614d8265636f6c6f7265477265656e0182191450634555520203a40082826473697a65614c82",
    "65636f6c6f72664f72616e676501821915e0634555520200036d574830322d4c2d4f72616e676558",
    "40a15b328176b1a8e681d9e55700613b19cf919754533978b5a99682a2ef3204eddf0d8640b789ee",
    "4783d6af42df83e64edca89a3ffe20485c45df70737c703b0e",
);
const VARIANTS_HASH: &str = "5a156757b2daec8c133a2ef73366fbb173bdccdf2aa98cfffdedf61a5dbad77a";

/// A listing with two photos, each with its thumbnail (the 6-element image arrays), as
/// `swapmeet sell --photo a.jpg --photo b.jpg` writes them.
fn listing_with_photos() -> Listing {
    let mut l = listing();
    l.item_key = "bike-2".into();
    l.images = vec![
        ImageRef {
            hash: [0xa1; 32],
            mime: "image/jpeg".into(),
            size: 412_345,
            thumb: Some(ImageThumb {
                hash: [0xb1; 32],
                mime: "image/jpeg".into(),
                size: 21_000,
            }),
        },
        ImageRef {
            hash: [0xa2; 32],
            mime: "image/jpeg".into(),
            size: 388_002,
            thumb: Some(ImageThumb {
                hash: [0xb2; 32],
                mime: "image/jpeg".into(),
                size: 19_876,
            }),
        },
    ];
    l
}

const PHOTOS_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c59013d",
    "ae0001016662696b652d320201031a684edd98041a686152980570526f61642062696b652c203536",
    "20636d0677537465656c206672616d652e0a4e65772074797265732e07821961a863455552080309",
    "030a8264726f616465737465656c0c8266753333646330694b7265757a626572670d8201800e8286",
    "5820a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a16a696d616765",
    "2f6a7065671a00064ab95820b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1",
    "b1b1b1b16a696d6167652f6a706567195208865820a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2",
    "a2a2a2a2a2a2a2a2a2a2a2a2a26a696d6167652f6a7065671a0005eba25820b2b2b2b2b2b2b2b2b2",
    "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b26a696d6167652f6a706567194da45840c8",
    "61420349d5dc00f83790d1cfdc1e36fe4699b40731e693f85d9c1889b8470cb84f2edf1d3714b327",
    "fd530b71d05a8c22bc75e506f4740ed33b10b813d96b09",
);
const PHOTOS_HASH: &str = "5c4c06ab232d122ff398f98566211c3d7762f1e051a0c9030510d8e7beb28e3f";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn signing_reproduces_the_committed_bytes() {
    let k = seller();
    assert_eq!(k.public().to_string(), SELLER_ID);
    assert_eq!(
        ListingId::derive(&k.public(), "bike-1").to_string(),
        LISTING_ID
    );
    // ed25519 signatures are deterministic, so the whole envelope is.
    let l = listing().sign(&k).unwrap();
    assert_eq!(hex(l.as_bytes()), LISTING_HEX);
    assert_eq!(l.hash().to_string(), LISTING_HASH);
    let w = withdrawal().sign(&k).unwrap();
    assert_eq!(hex(w.as_bytes()), WITHDRAWAL_HEX);
    assert_eq!(w.hash().to_string(), WITHDRAWAL_HASH);
}

#[test]
fn committed_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(LISTING_HEX)).unwrap();
    assert_eq!(env.kind(), EnvelopeKind::Listing);
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.listing_id().to_string(), LISTING_ID);
    assert_eq!(v.signer().to_string(), SELLER_ID);
    assert_eq!(v.payload(), &Record::Listing(listing()));

    let env = SignedEnvelope::decode(&unhex(WITHDRAWAL_HEX)).unwrap();
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.listing_id().to_string(), LISTING_ID);
    assert_eq!(v.payload(), &Record::Withdrawal(withdrawal()));
}

#[test]
fn listing_with_variants_reproduces_the_committed_bytes() {
    let k = seller();
    let l = listing_with_variants();
    assert_eq!(l.payload_version(), 2);
    let env = l.sign(&k).unwrap();
    assert_eq!(hex(env.payload_bytes()), VARIANTS_PAYLOAD_HEX);
    assert_eq!(hex(env.as_bytes()), VARIANTS_HEX);
    assert_eq!(env.hash().to_string(), VARIANTS_HASH);
}

#[test]
fn committed_variant_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(VARIANTS_HEX)).unwrap();
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.payload(), &Record::Listing(listing_with_variants()));
    let Record::Listing(l) = v.payload() else {
        unreachable!()
    };
    // What is in stock: 48 and 52 EUR (the 56 EUR variant is sold out).
    assert_eq!(l.price_range(), (eur(4800), eur(5200)));
}

#[test]
fn listing_with_photos_reproduces_the_committed_bytes() {
    let env = listing_with_photos().sign(&seller()).unwrap();
    assert_eq!(hex(env.as_bytes()), PHOTOS_HEX);
    assert_eq!(env.hash().to_string(), PHOTOS_HASH);
}

#[test]
fn committed_photo_bytes_decode_and_verify() {
    let env = SignedEnvelope::decode(&unhex(PHOTOS_HEX)).unwrap();
    let v = env.verify(NOW).unwrap();
    assert_eq!(v.payload(), &Record::Listing(listing_with_photos()));
    // A search hit shows the first photo's thumbnail without decoding the whole listing.
    let Record::Listing(l) = v.payload() else {
        unreachable!()
    };
    assert_eq!(l.glance().thumb, Some([0xb1; 32]));
}

#[test]
fn an_image_without_thumbnail_keeps_its_three_element_encoding() {
    // Key 14, array(1), array(3): the bytes every listing signed before thumbnails has.
    let env = listing().sign(&seller()).unwrap();
    let p = env.payload_bytes();
    let at = p.windows(3).position(|w| w == [0x0e, 0x81, 0x83]);
    assert!(at.is_some(), "image written as array(3)");
    let env = listing_with_photos().sign(&seller()).unwrap();
    let p = env.payload_bytes();
    assert!(
        p.windows(3).any(|w| w == [0x0e, 0x82, 0x86]),
        "array(6) with a thumbnail"
    );
}

#[test]
fn a_thumbnail_over_its_limit_is_refused_naming_the_field() {
    let mut l = listing_with_photos();
    if let Some(t) = l.images[1].thumb.as_mut() {
        t.size = swapmeet_protocol::limits::MAX_THUMB_BYTES + 1;
    }
    let e = l.sign(&seller()).unwrap_err().to_string();
    assert!(e.contains("images.thumb_size"), "{e}");
    assert!(e.contains("65536"), "{e}");
}

#[test]
fn a_listing_without_variants_stays_version_1() {
    // The first byte pair of every version-1 payload map: key 0, version 1.
    let env = listing().sign(&seller()).unwrap();
    assert_eq!(listing().payload_version(), 1);
    assert_eq!(&env.payload_bytes()[1..3], &[0x00, 0x01]);
}

// ---- private messages: the buyer asks about the bike listing above, sealed for the seller ----

fn buyer() -> SecretKey {
    SecretKey::from_bytes([2u8; 32])
}

/// The HPKE ephemeral seed of the sealed vector (fresh randomness in real use).
const EPHEMERAL: [u8; 32] = [0x42; 32];

fn message() -> DirectMessage {
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
        seq: 1,
        sent_at: 1_749_999_600,
        expires_at: 1_749_999_600 + 14 * 86_400,
        about,
        body: MessageBody::Text(
            "Is the bike still available?\nI could pick it up on Saturday.".into(),
        ),
    }
}

fn receipt(message: EnvelopeHash) -> Receipt {
    Receipt {
        message,
        sender: buyer().public(),
        received_at: 1_749_999_700,
    }
}

const BUYER_ID: &str = "smqe4xodvipulv6vvdkrtmgtd6ztfy3curwtxdpis56yhvxd6jwoka";
const THREAD_ID: &str = "2914cfd2ff6f602f34488ab523480effe9c9a66653b6f84ecfc1af4f1874378b";
const SELLER_TAG: &str = "96af22d8350ce50b586d23fd7bdeef8d7c3d95caa6373fd208fbfccf4fbd3e7a";
const MESSAGE_HEX: &str = concat!(
    "85010358208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394590108",
    "a900010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0258",
    "208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940358202914cfd2",
    "ff6f602f34488ab523480effe9c9a66653b6f84ecfc1af4f1874378b0401051a684edff0061a6861",
    "54f0078358208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6662",
    "696b652d315820d232b641e8497063ff8c479433655efe9feeb98e2d0cc314ea78764d98098cac08",
    "8201783c4973207468652062696b65207374696c6c20617661696c61626c653f0a4920636f756c64",
    "207069636b206974207570206f6e2053617475726461792e58405766bd86a8c389d2f68418c1c34b",
    "0166ee08f90398f1ac738301063a65531905832f2fdd61a05da1beee2da0a5d369b8688e88a5fc3d",
    "a65c682504a9e687f10b",
);
const MESSAGE_HASH: &str = "04285295a4501880e779de9eeec97bf85e5ef8ce10cceea6300e445e8becc8f7";
const RECEIPT_HEX: &str = concat!(
    "85010458208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c584fa4",
    "000101582004285295a4501880e779de9eeec97bf85e5ef8ce10cceea6300e445e8becc8f7025820",
    "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394031a684ee0545840",
    "63a68f01ca00b8a208944f714fc6ad9c279d7ffbcb8aae97cb28ff756b77e9ff633cf81f57584b44",
    "c38a30ea16cf412030f7d7494bd8344c75788b8202b8ab02",
);
const SEALED_HEX: &str = concat!(
    "8501582096af22d8350ce50b586d23fd7bdeef8d7c3d95caa6373fd208fbfccf4fbd3e7a1a686154",
    "f05820ae3bf1cd87c2d2ed25af4a1a239eed04a990f00e7403e4c8065927de010fd17a590210925d",
    "a1a9e08b4a14bde50426a9af9f5a3073611af8774ca692a736145f2a179510857d9edec40bd45e45",
    "c0faecb81095cd97332cfc1ad7085dd7f5810a0820869acb9b510fd70675832e83373f530c571966",
    "95ae9e3c96555b3a822d4880fbf76078116785cc5b9c01ce8ab9314ed8d1442be876a172b8fd3dfc",
    "82843c0d85cb5c762dbe79c01cb6e83f9fee1668669fa1fa88090d7b91c9af58d599db7d0240742d",
    "566ff4a6efecd676e68106ab4c88dc8f9c98bf9728f60d713178b06ce21dd7bae042576c46fb6e79",
    "f9ff393fa9f0f92c634226a2c140dc4fe3c4af0e5def228c15eb421d864c611fe881adef052ef799",
    "5dce58a41d7d59ded28900a7411a77ddcf75ad08d8be1b4f7300c563d40ea4f5276a584fef4facec",
    "fef237448e69888a072ce4bef368e1a6d7056b2048862d2db0365581345d9de5a62372363a1fa6d0",
    "eaccc31a29d499ab7afa9a683c75f886ed8fdfa98271d5e3e29385faa7c0c58012a13d901f0d7aa7",
    "d77c1234270747d419c0aea39c059ed0d7841c05f208ebda7feffac087a64c88b9fd9e93f4d554c9",
    "c282dc4bc587452ec03c39b0133280f063dfa13cdd733a51a1c40fde91d774c370e42a1cb284c145",
    "d74d3166368f4e27f766ed964014bec6f730e2e28742f42442c6b7714734e8b00d3030304506a839",
    "130d45e3848a78cae71f7a391c032c6801f866b3acd907251492d7f1e285cfa062a06c1692d2cebe",
    "b95787883c18",
);
const SEALED_ID: &str = "a0dc4d41cb6d15d08e06385c28ed1ee6d9b889c0bd33a22f771007b957f8129e";

#[test]
fn messages_reproduce_the_committed_bytes() {
    assert_eq!(buyer().public().to_string(), BUYER_ID);
    let m = message();
    assert_eq!(m.thread.to_string(), THREAD_ID);
    assert_eq!(RecipientTag::of(&seller().public()).to_string(), SELLER_TAG);
    let env = m.sign(&buyer()).unwrap();
    assert_eq!(hex(env.as_bytes()), MESSAGE_HEX);
    assert_eq!(env.hash().to_string(), MESSAGE_HASH);
    let r = receipt(env.hash()).sign(&seller()).unwrap();
    assert_eq!(hex(r.as_bytes()), RECEIPT_HEX);
    // With the ephemeral seed fixed, HPKE sealing is deterministic too.
    let v = env.verify_message(NOW).unwrap();
    let sealed = seal_with_ephemeral(&v, &seller().public(), EPHEMERAL).unwrap();
    assert_eq!(hex(sealed.as_bytes()), SEALED_HEX);
    assert_eq!(sealed.id().to_string(), SEALED_ID);
}

#[test]
fn committed_message_bytes_open_and_verify() {
    let sealed = Sealed::decode(&unhex(SEALED_HEX)).unwrap();
    assert_eq!(sealed.tag().to_string(), SELLER_TAG);
    assert_eq!(sealed.expires_at(), message().expires_at);
    let v = open(&sealed, &seller(), NOW).unwrap();
    assert_eq!(v.payload(), &message());
    assert_eq!(v.signer().to_string(), BUYER_ID);
    assert_eq!(v.hash().to_string(), MESSAGE_HASH);
    assert_eq!(hex(v.envelope().as_bytes()), MESSAGE_HEX);

    let env = SignedEnvelope::decode(&unhex(MESSAGE_HEX)).unwrap();
    assert_eq!(env.kind(), EnvelopeKind::Message);
    assert_eq!(env.verify_message(NOW).unwrap().payload(), &message());

    let r = SignedEnvelope::decode(&unhex(RECEIPT_HEX)).unwrap();
    assert_eq!(r.kind(), EnvelopeKind::Receipt);
    let r = r.verify_receipt().unwrap();
    assert_eq!(r.payload(), &receipt(MESSAGE_HASH.parse().unwrap()));
    assert_eq!(r.signer(), seller().public());
}

/// The `bike-1` listing beyond the free allowance: in slot 1,000 with the first nonce whose
/// work is enough (8 leading zero bits), as `Stamp::mint` finds it.
fn stamped_listing() -> Listing {
    let mut l = listing();
    l.stamp = Some(swapmeet_protocol::Stamp {
        slot: 1000,
        nonce: STAMP_NONCE,
    });
    l
}

const STAMP_NONCE: u64 = 290;
const STAMPED_HEX: &str = concat!(
    "85010158208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c58b2af0001016662696b65",
    "2d310201031a684edd98041a686152980570526f61642062696b652c20353620636d0677537465656c206672616d652e",
    "0a4e65772074797265732e07821961a863455552080309030a8264726f616465737465656c0c8266753333646330694b",
    "7265757a626572670d8201800e8183582009090909090909090909090909090909090909090909090909090909090909",
    "096a696d6167652f6a7065671a0001e24010821903e81901225840815c7c658a20f34370f6dd5cc03a6fc8b30e190968",
    "89774dc63c91363b764ff21e8d2460c47124c04fc2e9c98f4f06615044a88637156b4508e306313431600a",
);

#[test]
fn a_stamped_listing_reproduces_the_committed_bytes() {
    let key = seller().public();
    let minted = swapmeet_protocol::Stamp::mint(&key, &listing().id(&key), 1000).unwrap();
    assert_eq!(minted.nonce, STAMP_NONCE);
    let env = stamped_listing().sign(&seller()).unwrap();
    assert_eq!(hex(env.as_bytes()), STAMPED_HEX);
    let v = SignedEnvelope::decode(&unhex(STAMPED_HEX))
        .unwrap()
        .verify(NOW)
        .unwrap();
    assert_eq!(v.payload(), &Record::Listing(stamped_listing()));
    // One nonce less is not enough work: the stamp is refused, naming it.
    let mut weak = stamped_listing();
    weak.stamp = Some(swapmeet_protocol::Stamp {
        slot: 1000,
        nonce: STAMP_NONCE.wrapping_sub(1),
    });
    let e = weak.sign(&seller()).unwrap().verify(NOW).unwrap_err();
    assert!(e.to_string().contains("stamp"), "{e}");
}
