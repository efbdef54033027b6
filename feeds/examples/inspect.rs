//! Prints what the parser makes of a feed file: `cargo run -p swapmeet-feeds --example inspect -- FILE [CURRENCY]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: inspect FILE [CURRENCY]");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let opts = swapmeet_feeds::ParseOptions {
        default_currency: args
            .get(2)
            .and_then(|c| swapmeet_protocol::Currency::new(c).ok()),
    };
    let result =
        swapmeet_feeds::detect(&bytes).and_then(|f| swapmeet_feeds::parse_with(&bytes, f, &opts));
    match result {
        Ok(feed) => {
            println!(
                "format {} items {} available {} containers {} skipped {} warnings {}",
                feed.format,
                feed.items.len(),
                feed.items.iter().filter(|i| i.available).count(),
                feed.containers,
                feed.skipped.len(),
                feed.warnings.len()
            );
            for s in &feed.skipped {
                println!("skip row {} {:?}: {}", s.row, s.shop_id, s.reason);
            }
            for i in feed.items.iter().take(3) {
                println!(
                    "{} | {} | {} | {:?} | {:?} | {:?}",
                    i.key, i.title, i.price, i.category, i.tags, i.quantity
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
