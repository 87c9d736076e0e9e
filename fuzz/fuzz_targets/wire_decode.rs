//! `wire::decode` must return a value or a typed error for any bytes, never
//! panic; a decoded message must encode and decode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdisc::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = wire::decode(data) {
        let text = wire::encode(&msg);
        assert_eq!(text.len(), wire::encoded_len(&msg));
        let again = wire::decode(text.as_bytes()).expect("an encoded message decodes");
        assert_eq!(again, msg);
    }
});
