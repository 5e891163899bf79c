/*
 * Counter guest: a 512-byte x86 boot sector that, once booted by the BIOS,
 * writes 0, 1, 2, ... (decimal, one number per line, "\n" only) to COM1
 * forever. It prints one line per BIOS timer tick (PIT IRQ0, ~18.2 Hz) and
 * sleeps with "sti; hlt" in between, so it costs almost no host CPU even
 * under QEMU software emulation (TCG).
 *
 * All state lives in guest RAM and registers, so a live migration carries
 * it over: after migration the sequence goes on from where it was. A reboot
 * or a cold restart would show up as the sequence starting again at 0.
 *
 * Built with DIRTY_PAGES=N (N > 0), instead of sleeping between ticks it keeps
 * rewriting N 4 KiB pages from 0x10000 up: a guest whose memory changes faster
 * than a slow migration link carries it, so pre-copy cannot converge. That
 * variant keeps one host CPU busy; only the tests that need it use it.
 *
 * Build: see ./build (GNU as + ld, 16-bit real mode, linked at 0x7c00).
 */
        .ifndef DIRTY_PAGES
        .set    DIRTY_PAGES, 0
        .endif
        .code16
        .text
        .globl _start

        .set COM1,     0x3f8
        .set BDA_TICKS, 0x46c           /* BIOS tick count, 0040:006C */

_start:
        cli
        ljmp    $0, $start              /* normalise CS:IP to 0000:7Cxx */
start:
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7c00, %sp            /* stack grows down below us */
        cld

        /* UART 16550 on COM1: 115200 baud, 8N1, FIFO on, no UART IRQs. */
        movw    $COM1+1, %dx            /* IER: no interrupts */
        xorb    %al, %al
        outb    %al, %dx
        movw    $COM1+3, %dx            /* LCR: DLAB=1 */
        movb    $0x80, %al
        outb    %al, %dx
        movw    $COM1+0, %dx            /* DLL: divisor 1 -> 115200 */
        movb    $0x01, %al
        outb    %al, %dx
        movw    $COM1+1, %dx            /* DLM */
        xorb    %al, %al
        outb    %al, %dx
        movw    $COM1+3, %dx            /* LCR: DLAB=0, 8 bits, no parity, 1 stop */
        movb    $0x03, %al
        outb    %al, %dx
        movw    $COM1+2, %dx            /* FCR: enable and clear FIFOs */
        movb    $0xc7, %al
        outb    %al, %dx
        movw    $COM1+4, %dx            /* MCR: DTR+RTS, OUT2 off (no IRQ) */
        movb    $0x03, %al
        outb    %al, %dx

        xorl    %esi, %esi              /* the 32-bit counter */
        movw    BDA_TICKS, %di          /* last tick seen */

next_line:
        movl    %esi, %eax
        call    print_dec
        movb    $'\n', %al
        call    putc
        incl    %esi

        /* Sleep until the BIOS tick count changes. Any other interrupt
         * that wakes us up just goes back to sleep. */
wait_tick:
        sti
        .if DIRTY_PAGES
        call    dirty                   /* never idle: keep rewriting the pages */
        .else
        hlt
        .endif
        cli
        movw    BDA_TICKS, %ax
        cmpw    %di, %ax
        je      wait_tick
        movw    %ax, %di
        jmp     next_line

        .if DIRTY_PAGES
/* Write a new value into each of DIRTY_PAGES 4 KiB pages from 0x10000. Clobbers ax, cx, ebp. */
dirty:
        pushw   %es
        incl    %ebp
        movw    $0x1000, %ax            /* segment of the first page */
        movw    $DIRTY_PAGES, %cx
1:      movw    %ax, %es
        movl    %ebp, %es:0
        addw    $0x100, %ax             /* next 4 KiB page */
        loop    1b
        popw    %es
        ret
        .endif

/* Print the unsigned 32-bit number in %eax in decimal. Clobbers eax, ecx, edx, bx. */
print_dec:
        movl    $10, %ecx
        xorw    %bx, %bx                /* digit count */
1:      xorl    %edx, %edx
        divl    %ecx                    /* edx:eax / 10 */
        addb    $'0', %dl
        pushw   %dx
        incw    %bx
        testl   %eax, %eax
        jnz     1b
2:      popw    %ax
        call    putc
        decw    %bx
        jnz     2b
        ret

/* Write the byte in %al to COM1 once the transmit holding register is empty. */
putc:
        pushw   %dx
        movb    %al, %ah
        movw    $COM1+5, %dx            /* LSR */
1:      inb     %dx, %al
        testb   $0x20, %al              /* THR empty? */
        jz      1b
        movw    $COM1, %dx
        movb    %ah, %al
        outb    %al, %dx
        popw    %dx
        ret

        .org    510
        .word   0xaa55
