# Dallas/Maxim CRC-8 (1-Wire ROM codes and DS18B20 scratchpads): polynomial
# x^8 + x^5 + x^4 + 1, reflected (0x8C), initial value 0.


def crc8_maxim(data, n=-1):
    if n < 0:
        n = len(data)
    crc = 0
    for i in range(n):
        byte = data[i]
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc
