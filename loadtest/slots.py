"""The slot an order belongs to, as the daemon computes it (`domain::order::slot_of`): 64-bit
FNV-1a of the order id, modulo 256. Imported by loadtest/cluster.sh's Python steps."""


def slot(order_id: str) -> str:
    h = 0xCBF29CE484222325
    for b in order_id.encode():
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return str(h % 256)
