;; adler32 with WebAssembly SIMD (about 5x the scalar JavaScript loop). Built into adler32-wasm.ts by
;; scripts/build-adler32-wasm.mjs. update(adler, ptr, len) continues `adler` over memory[ptr, ptr + len).
;;
;; Per 16-byte block v, with `a` the running sum before it: a += sum(v), b += 16 a + sum((16 - j) v[j]).
;; Over a run of k blocks the lanes hold s1 (byte sums), ps (s1 before each block) and s2 (weighted
;; sums), so b += 16 k a0 + 16 sum(ps) + sum(s2). A run is at most 5552 bytes (zlib's NMAX), which keeps
;; every lane within 32 bits; the modulo is taken once per run, in 64 bits.
(module
  (memory (export "memory") 17)
  (func $hsum (param $v v128) (result i64)
    (i64.add
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $v)))
               (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $v))))
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $v)))
               (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $v))))))
  (func (export "update") (param $adler i32) (param $ptr i32) (param $len i32) (result i32)
    (local $a i64) (local $b i64) (local $end i32) (local $runEnd i32) (local $k i64)
    (local $s1 v128) (local $s2 v128) (local $ps v128) (local $v v128)
    (local $wlo v128) (local $whi v128)
    (local.set $a (i64.extend_i32_u (i32.and (local.get $adler) (i32.const 0xffff))))
    (local.set $b (i64.extend_i32_u (i32.shr_u (local.get $adler) (i32.const 16))))
    (local.set $wlo (v128.const i16x8 16 15 14 13 12 11 10 9))
    (local.set $whi (v128.const i16x8 8 7 6 5 4 3 2 1))
    (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -16))))
    (block $blocksDone
      (loop $runs
        (br_if $blocksDone (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $runEnd (i32.add (local.get $ptr) (i32.const 5552)))
        (if (i32.gt_u (local.get $runEnd) (local.get $end)) (then (local.set $runEnd (local.get $end))))
        (local.set $k (i64.extend_i32_u (i32.shr_u (i32.sub (local.get $runEnd) (local.get $ptr)) (i32.const 4))))
        (local.set $s1 (v128.const i32x4 0 0 0 0))
        (local.set $s2 (v128.const i32x4 0 0 0 0))
        (local.set $ps (v128.const i32x4 0 0 0 0))
        (loop $blocks
          (local.set $v (v128.load (local.get $ptr)))
          (local.set $ps (i32x4.add (local.get $ps) (local.get $s1)))
          (local.set $s1 (i32x4.add (local.get $s1)
            (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $v)))))
          (local.set $s2 (i32x4.add (local.get $s2)
            (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $v)) (local.get $wlo))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $v)) (local.get $whi)))))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
          (br_if $blocks (i32.lt_u (local.get $ptr) (local.get $runEnd))))
        (local.set $b (i64.add (local.get $b) (i64.mul (i64.shl (local.get $k) (i64.const 4)) (local.get $a))))
        (local.set $b (i64.add (local.get $b) (i64.shl (call $hsum (local.get $ps)) (i64.const 4))))
        (local.set $b (i64.rem_u (i64.add (local.get $b) (call $hsum (local.get $s2))) (i64.const 65521)))
        (local.set $a (i64.rem_u (i64.add (local.get $a) (call $hsum (local.get $s1))) (i64.const 65521)))
        (br $runs)))
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $len) (i32.const 15))))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $a (i64.add (local.get $a) (i64.load8_u (local.get $ptr))))
        (local.set $b (i64.add (local.get $b) (local.get $a)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $tail)))
    (i32.or
      (i32.shl (i32.wrap_i64 (i64.rem_u (local.get $b) (i64.const 65521))) (i32.const 16))
      (i32.wrap_i64 (i64.rem_u (local.get $a) (i64.const 65521))))))
