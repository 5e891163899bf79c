# A boot sector that counts: after boot it writes 0, 1, 2, ... to COM1, one
# decimal number a line, one line per timer tick (~18 a second), forever.
# Between lines it halts until the next interrupt, so under QEMU's software
# emulation it costs the host almost no CPU. Tests read the serial output to
# prove that a live migration lost no guest state (no gap) and did not reboot
# the guest (no second 0).
        .code16
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7c00, %sp
        cld

        # COM1 at 0x3f8: 115200 baud, 8N1, FIFO on, interrupts off (we poll).
        movw    $0x3f9, %dx; movb $0x00, %al; outb %al, %dx   # IER: no interrupts
        movw    $0x3fb, %dx; movb $0x80, %al; outb %al, %dx   # LCR: DLAB on
        movw    $0x3f8, %dx; movb $0x01, %al; outb %al, %dx   # divisor low: 115200
        movw    $0x3f9, %dx; movb $0x00, %al; outb %al, %dx   # divisor high
        movw    $0x3fb, %dx; movb $0x03, %al; outb %al, %dx   # LCR: 8N1, DLAB off
        movw    $0x3fa, %dx; movb $0xc7, %al; outb %al, %dx   # FCR: FIFO on, cleared
        movw    $0x3fc, %dx; movb $0x03, %al; outb %al, %dx   # MCR: DTR, RTS

        xorl    %ebx, %ebx                  # the count
        sti
next:
        movl    %ebx, %eax
        call    print_decimal
        movb    $'\n', %al
        call    put_char
        incl    %ebx
        hlt                                 # sleep until the BIOS timer tick
        jmp     next

# Writes EAX as a decimal number.
print_decimal:
        movl    $10, %ecx
        xorw    %si, %si                    # digits pushed
1:      xorl    %edx, %edx
        divl    %ecx
        pushw   %dx
        incw    %si
        testl   %eax, %eax
        jnz     1b
2:      popw    %ax
        addb    $'0', %al
        call    put_char
        decw    %si
        jnz     2b
        ret

# Writes AL to COM1 once its transmit holding register is empty.
put_char:
        pushw   %dx
        movb    %al, %ah
        movw    $0x3fd, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        movw    $0x3f8, %dx
        movb    %ah, %al
        outb    %al, %dx
        popw    %dx
        ret

        .org    510
        .word   0xaa55
