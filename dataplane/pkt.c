/* being written: see pkt.h */
