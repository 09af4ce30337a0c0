/*
 * parser.y - the grammar of .dil (SPEC section 2), a pure bison parser.
 *
 * It builds the declaration list of dilc.h: one Decl per declared name
 * (`dim N = 1, H = 2` gives two), expressions as Ast trees.  Every node
 * carries its whole source range and, where it has one, the range of its
 * name; locations are byte ranges (YYLTYPE is Loc), so a rule's range runs
 * from its first symbol's begin to its last symbol's end.
 *
 * Syntax errors go through our own reporter (parse.error custom, with LAC
 * so that the expected-token list is exact).  It writes Lua-style messages
 * that say what was expected and which bracket it closes.  Recovery is at
 * declaration level: `decl: error` throws tokens away up to the next
 * declaration keyword or ';', and the keyword itself (via `resync`) puts
 * the parser back in step at once, so the next error is reported too.
 * Brackets opened in the thrown-away tokens are marked there as well, so
 * that their closers, should they come later, are not errors of their own.
 *
 * Nesting: the bison stack lives on the heap and may grow to YYMAXDEPTH,
 * enough for 200,000 nested parentheses; beyond that "memory exhausted"
 * becomes "expression nested too deeply" at the offending token.  Later
 * phases walk the tree recursively, so an expression deeper than MAX_NEST
 * (or `for` loops nested deeper) is an error as well.
 */

%code requires {
#include "dilc.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* Locations are byte ranges [begin, end) into the file. */
#define YYLTYPE Loc
#define YYLTYPE_IS_DECLARED 1
/* A rule spans its first to its last symbol; an empty rule is the empty
   range at the end of what precedes it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                             \
    do {                                                        \
        if (N) {                                                \
            (Cur).begin = YYRHSLOC(Rhs, 1).begin;               \
            (Cur).end = YYRHSLOC(Rhs, N).end;                   \
        } else {                                                \
            (Cur).begin = (Cur).end = YYRHSLOC(Rhs, 0).end;     \
        }                                                       \
    } while (0)

/* An unclosed '(' '[' or '{'.  `dropped` when error recovery threw it
   away: its closer is then swallowed by the scanner, since the parser
   would only take it for another error. */
typedef struct Bracket {
    Loc loc;
    int dropped;
} Bracket;

/* The scanner's state (flex's yyextra). */
typedef struct LexState {
    const SrcFile *file;
    int pos;                  /* byte offset of the next unread byte */
    Bracket *open;            /* unclosed brackets, innermost last */
    int nopen, capopen;
} LexState;

/* Growable arrays in the arena (the old copy is simply left behind). */
typedef struct AstList {
    Ast **v;
    int n, cap;
} AstList;

typedef struct ParamList {
    Param *v;
    int n, cap;
} ParamList;

/* Declarations built so far, and how deeply `for` loops nest in them. */
typedef struct DeclList {
    Decl *head, *tail;
    int depth;
} DeclList;

typedef struct Parser Parser;
}

%code provides {
/* The scanner's entry point, under our name (see scanner.l). */
#define YY_DECL int lex_scan(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, yyscan_t yyscanner)
YY_DECL;
}

%code {
#include "scanner.h"

#include <limits.h>
#include <string.h>

/* The bison stack is on the heap (no alloca); let it grow. */
#define YYMAXDEPTH 1000000
#define MAX_NEST 1000

struct Parser {
    const SrcFile *file;
    yyscan_t scanner;
    LexState lex;
    Decl *decls;              /* the result */
    int *bodies;              /* scanner bracket index of each open `for` body */
    int nbodies, capbodies;
    int nest_reported;        /* "nested too deeply" said once for `for` */
};

/* Tokens come from the scanner until the error limit: then the file
   "ends", which makes the parser stop quietly. */
static int yylex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p)
{
    if (diag_too_many()) {
        lloc->begin = lloc->end = p->lex.pos;
        return YYEOF;
    }
    return lex_scan(lval, lloc, p->scanner);
}

static void yyerror(YYLTYPE *loc, Parser *p, const char *msg);

/* Brackets that error recovery threw away.  Called at a declaration
   keyword, where no bracket may be open but the '{' of the `for` bodies
   around it: any other one on the scanner's stack belongs to a broken
   declaration, and its closer, when it comes, must not be a new error. */
static void drop_brackets(Parser *p)
{
    LexState *ls = &p->lex;
    int base = p->nbodies ? p->bodies[p->nbodies - 1] + 1 : 0;
    for (int i = ls->nopen - 1; i >= base && !ls->open[i].dropped; i--)
        ls->open[i].dropped = 1;
}

/* body_open: the '{' of a `for` body is the scanner's top bracket. */
static void body_push(Parser *p)
{
    VEC_PUSH(p->bodies, p->nbodies, p->capbodies, p->lex.nopen - 1);
}

/* At the body's '}': its '{' and anything left above it are closed. */
static void body_pop(Parser *p)
{
    int i = p->bodies[--p->nbodies];
    if (p->lex.nopen > i)
        p->lex.nopen = i;
}

static Ast *new_ast(AstKind kind, Loc loc)
{
    Ast *e = arena_alloc(sizeof *e);
    e->kind = kind;
    e->loc = loc;
    return e;
}

static Ast *new_binary(int op, Ast *a, Ast *b, Loc loc)
{
    Ast *e = new_ast(AST_BINARY, loc);
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

static Ast *new_unary(AstKind kind, Ast *a, Loc loc)
{
    Ast *e = new_ast(kind, loc);
    e->a = a;
    return e;
}

static AstList *ast_list(AstList *l, Ast *e)
{
    if (!l)
        l = arena_alloc(sizeof *l);
    VEC_PUSH(l->v, l->n, l->cap, e);
    return l;
}

/* Node of kind with the list's items as args. */
static Ast *new_list_node(AstKind kind, AstList *l, Loc loc)
{
    Ast *e = new_ast(kind, loc);
    e->args = l->v;
    e->nargs = l->n;
    return e;
}

static ParamList *param_list(ParamList *l, Param prm)
{
    if (!l)
        l = arena_alloc(sizeof *l);
    VEC_PUSH(l->v, l->n, l->cap, prm);
    return l;
}

static Decl *new_decl(DeclKind kind, Loc loc)
{
    Decl *d = arena_alloc(sizeof *d);
    d->kind = kind;
    d->loc = loc;
    return d;
}

static DeclList decl_one(Decl *d)
{
    DeclList l = { d, d, 0 };
    return l;
}

static DeclList decl_cat(DeclList a, DeclList b)
{
    if (!a.head)
        return b;
    if (b.head) {
        a.tail->next = b.head;
        a.tail = b.tail;
    }
    if (b.depth > a.depth)
        a.depth = b.depth;
    return a;
}

/* Every declaration in l becomes kind, with the keyword's location. */
static DeclList decl_mark(DeclList l, DeclKind kind, Role role, Loc kw)
{
    for (Decl *d = l.head; d; d = d->next) {
        d->kind = kind;
        d->role = role;
        d->loc = kw;
    }
    return l;
}

/* Shape brackets hold one or two sizes: vectors and matrices. */
static int shape_rank(AstList *dims, Loc loc)
{
    if (dims->n > 2)
        diag_error(loc, "at most 2 dimensions (vector or matrix), not %d", dims->n);
    return dims->n;
}

}

%define api.pure full
%define parse.error custom
%define parse.lac full
%locations
%param {Parser *p}
%expect 0

%initial-action {
    @$.begin = @$.end = 0;
}

%union {
    const char *str;
    mpq_ptr num;
    Ast *ast;
    AstList *list;
    ParamList *params;
    Param param;
    Decl *decl;
    DeclList decls;
    Role role;
}

%token MODEL "model" DIM "dim" CONST "const" INPUT "input" PARAM "param"
       VAR "var" DATA "data" LET "let" FN "fn" FOR "for" IN "in"
       SCORE "score" RESIDUAL "residual" LOSS "loss"
%token <str> IDENT "identifier"
/* A character the scanner has already reported; no rule takes it, so the
   parser recovers without a message of its own. */
%token BAD "invalid character"
%token <num> NUM "number"

%type <decls> decls decl defs syms
%type <decl> def sym
%type <role> role
%type <params> params
%type <param> param
%type <ast> expr term unary power postfix primary index
%type <list> exprs indices

%%

/* program: decls */
program:
    decls                       { p->decls = $1.head; }
    ;

/* decls: { decl | ';' } */
decls:
    %empty                      { DeclList l = { NULL, NULL, 0 }; $$ = l; }
  | decls decl                  { $$ = decl_cat($1, $2); }
  | decls ';'                   { $$ = $1; }
  ;

/* resync: (empty), right after a declaration keyword.  After an error the
   parser has found its feet again here, so report the next one at once. */
resync:
    %empty                      { yyerrok; drop_brackets(p); }
    ;

/* body_open: (empty), right after the '{' of a `for` body. */
body_open:
    %empty                      { body_push(p); }
    ;

/* decl: "model" IDENT
       | "dim" defs | "const" defs
       | role syms
       | "let" IDENT '=' expr | "let" IDENT '[' expr ']' '=' expr
       | "fn" IDENT '(' params ')' '=' expr
       | "for" IDENT "in" expr ':' expr '{' decls '}'
       | "score" expr | "residual" expr | "loss" expr */
decl:
    MODEL resync IDENT {
        Decl *d = new_decl(DECL_MODEL, @1);
        d->name = $3;
        d->name_loc = @3;
        $$ = decl_one(d);
    }
  | DIM resync defs             { $$ = decl_mark($3, DECL_DIM, ROLE_INPUT, @1); }
  | CONST resync defs           { $$ = decl_mark($3, DECL_CONST, ROLE_INPUT, @1); }
  | role syms                   { $$ = decl_mark($2, DECL_SYMBOL, $1, @1); }
  | LET resync IDENT '=' expr {
        Decl *d = new_decl(DECL_LET, @1);
        d->name = $3;
        d->name_loc = @3;
        d->value = $5;
        $$ = decl_one(d);
    }
  | LET resync IDENT '[' expr ']' '=' expr {
        Decl *d = new_decl(DECL_LET, @1);
        d->name = $3;
        d->name_loc = @3;
        d->index = $5;
        d->value = $8;
        $$ = decl_one(d);
    }
  | FN resync IDENT '(' params ')' '=' expr {
        Decl *d = new_decl(DECL_FN, @1);
        d->name = $3;
        d->name_loc = @3;
        d->params = $5->v;
        d->nparams = $5->n;
        d->value = $8;
        $$ = decl_one(d);
    }
  | FOR resync IDENT IN expr ':' expr '{' body_open decls '}' {
        Decl *d = new_decl(DECL_FOR, @1);
        body_pop(p);
        d->name = $3;
        d->name_loc = @3;
        d->lo = $5;
        d->hi = $7;
        d->body = $10.head;
        $$ = decl_one(d);
        $$.depth = $10.depth + 1;
        /* Later phases recurse into bodies: cut them when too deep. */
        if ($$.depth > MAX_NEST) {
            if (!p->nest_reported)
                diag_error(@1, "'for' loops nested too deeply (more than %d)", MAX_NEST);
            p->nest_reported = 1;
            d->body = NULL;
            $$.depth = 0;
        }
    }
  | SCORE resync expr {
        Decl *d = new_decl(DECL_SCORE, @1);
        d->value = $3;
        $$ = decl_one(d);
    }
  | RESIDUAL resync expr {
        Decl *d = new_decl(DECL_RESIDUAL, @1);
        d->value = $3;
        $$ = decl_one(d);
    }
  | LOSS resync expr {
        Decl *d = new_decl(DECL_LOSS, @1);
        d->value = $3;
        $$ = decl_one(d);
    }
  | error                       { DeclList l = { NULL, NULL, 0 }; $$ = l; }
  ;

/* role: "input" | "param" | "var" | "data" */
role:
    INPUT                       { $$ = ROLE_INPUT; yyerrok; drop_brackets(p); }
  | PARAM                       { $$ = ROLE_PARAM; yyerrok; drop_brackets(p); }
  | VAR                         { $$ = ROLE_VAR; yyerrok; drop_brackets(p); }
  | DATA                        { $$ = ROLE_DATA; yyerrok; drop_brackets(p); }
  ;

/* defs: def { ',' def } */
defs:
    def                         { $$ = decl_one($1); }
  | defs ',' def                { $$ = decl_cat($1, decl_one($3)); }
  ;

/* def: IDENT '=' expr */
def:
    IDENT '=' expr {
        $$ = new_decl(DECL_CONST, @1);
        $$->name = $1;
        $$->name_loc = @1;
        $$->value = $3;
    }
  ;

/* syms: sym { ',' sym } */
syms:
    sym                         { $$ = decl_one($1); }
  | syms ',' sym                { $$ = decl_cat($1, decl_one($3)); }
  ;

/* sym: IDENT [ '[' exprs ']' ] [ '=' expr ] */
sym:
    IDENT {
        $$ = new_decl(DECL_SYMBOL, @1);
        $$->name = $1;
        $$->name_loc = @1;
    }
  | IDENT '=' expr {
        $$ = new_decl(DECL_SYMBOL, @1);
        $$->name = $1;
        $$->name_loc = @1;
        $$->value = $3;
    }
  | IDENT '[' exprs ']' {
        $$ = new_decl(DECL_SYMBOL, @1);
        $$->name = $1;
        $$->name_loc = @1;
        $$->shape = $3->v;
        $$->rank = shape_rank($3, @3);
    }
  | IDENT '[' exprs ']' '=' expr {
        $$ = new_decl(DECL_SYMBOL, @1);
        $$->name = $1;
        $$->name_loc = @1;
        $$->shape = $3->v;
        $$->rank = shape_rank($3, @3);
        $$->value = $6;
    }
  ;

/* params: param { ',' param } */
params:
    param                       { $$ = param_list(NULL, $1); }
  | params ',' param            { $$ = param_list($1, $3); }
  ;

/* param: IDENT [ '[' exprs ']' ] */
param:
    IDENT {
        Param prm = { $1, @1, NULL, -1 };
        $$ = prm;
    }
  | IDENT '[' exprs ']' {
        Param prm = { $1, @1, $3->v, shape_rank($3, @3) };
        $$ = prm;
    }
  ;

/* expr: expr ('+' | '-') term | term */
expr:
    term                        { $$ = $1; }
  | expr '+' term               { $$ = new_binary('+', $1, $3, @$); }
  | expr '-' term               { $$ = new_binary('-', $1, $3, @$); }
  ;

/* term: term ('*' | '/' | '@') unary | unary */
term:
    unary                       { $$ = $1; }
  | term '*' unary              { $$ = new_binary('*', $1, $3, @$); }
  | term '/' unary              { $$ = new_binary('/', $1, $3, @$); }
  | term '@' unary              { $$ = new_binary('@', $1, $3, @$); }
  ;

/* unary: '-' unary | power */
unary:
    power                       { $$ = $1; }
  | '-' unary                   { $$ = new_unary(AST_NEG, $2, @$); }
  ;

/* power: postfix | postfix '^' unary
   (right-associative and tighter than unary minus on its left:
   -x^2 is -(x^2); on its right a minus is fine: 2^-1) */
power:
    postfix                     { $$ = $1; }
  | postfix '^' unary           { $$ = new_binary('^', $1, $3, @$); }
  ;

/* postfix: primary | postfix '\'' | postfix '[' indices ']' */
postfix:
    primary                     { $$ = $1; }
  | postfix '\''                { $$ = new_unary(AST_TRANSPOSE, $1, @$); }
  | postfix '[' indices ']' {
        $$ = new_list_node(AST_INDEX, $3, @$);
        $$->a = $1;
    }
  ;

/* indices: index { ',' index } */
indices:
    index                       { $$ = ast_list(NULL, $1); }
  | indices ',' index           { $$ = ast_list($1, $3); }
  ;

/* index: expr | [expr] ':' [expr] */
index:
    expr                        { $$ = $1; }
  | expr ':' expr               { $$ = new_ast(AST_SLICE, @$); $$->a = $1; $$->b = $3; }
  | expr ':'                    { $$ = new_ast(AST_SLICE, @$); $$->a = $1; }
  | ':' expr                    { $$ = new_ast(AST_SLICE, @$); $$->b = $2; }
  | ':'                         { $$ = new_ast(AST_SLICE, @$); }
  ;

/* primary: NUM | IDENT | IDENT '(' exprs ')'
          | IDENT '(' IDENT "in" expr ':' expr ',' expr ')'
          | '(' expr ')' | '[' exprs ']' */
primary:
    NUM                         { $$ = new_ast(AST_NUM, @$); $$->num = $1; }
  | IDENT {
        $$ = new_ast(AST_NAME, @$);
        $$->name = $1;
        $$->name_loc = @1;
    }
  | IDENT '(' exprs ')' {
        $$ = new_list_node(AST_CALL, $3, @$);
        $$->name = $1;
        $$->name_loc = @1;
    }
  | IDENT '(' IDENT IN expr ':' expr ',' expr ')' {
        if (strcmp($1, "sum") != 0 && strcmp($1, "mean") != 0)
            diag_error(@1, "only sum and mean take a range ('sum(%s in a:b, ...)'), not '%s'",
                       $3, $1);
        $$ = new_ast(AST_SUMRANGE, @$);
        $$->op = strcmp($1, "mean") == 0 ? 'm' : 's';
        $$->name = $3;
        $$->name_loc = @3;
        $$->a = $5;
        $$->b = $7;
        $$->c = $9;
    }
  | '(' expr ')'                { $$ = $2; $$->loc = @$; }
  | '[' exprs ']'               { $$ = new_list_node(AST_VECTOR, $2, @$); }
  ;

/* exprs: expr { ',' expr } */
exprs:
    expr                        { $$ = ast_list(NULL, $1); }
  | exprs ',' expr              { $$ = ast_list($1, $3); }
  ;

%%

/* ---------------------------------------------------------------- errors */

/* Bison's own error: the only one with parse.error custom is a stack that
   cannot grow, i.e. absurd nesting. */
static void yyerror(YYLTYPE *loc, Parser *p, const char *msg)
{
    (void)p;
    (void)msg;
    diag_error(*loc, "expression nested too deeply");
}

/* How a token is named in a message. */
static const char *token_name(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_IDENT: return "identifier";
    case YYSYMBOL_NUM: return "number";
    default: break;
    }
    const char *s = yysymbol_name(k);
    if (s[0] != '\'')           /* a keyword: model -> 'model' */
        return arena_printf("'%s'", s);
    return s;                   /* already '(' */
}

/* The text of the offending token for a message, shortened if long. */
static const char *token_text(Parser *p, Loc at)
{
    int n = at.end - at.begin;
    const char *s = p->file->text + at.begin;
    if (n > 32)
        return arena_printf("'%.29s...'", s);
    return arena_printf("'%.*s'", n, s);
}

static int expects(const yysymbol_kind_t *exp, int n, yysymbol_kind_t k)
{
    for (int i = 0; i < n; i++)
        if (exp[i] == k)
            return 1;
    return 0;
}

/* Tokens that only continue an expression: left out of "expected ..."
   lists, which then name what ends or separates it. */
static int continues_expr(yysymbol_kind_t k)
{
    const char *s = yysymbol_name(k);
    return (strlen(s) == 3 && s[0] == '\'' && strchr("+-*/^@[", s[1]))
        || strcmp(s, "'\\''") == 0;
}

/* Whether the character token c is among the n tokens of exp. */
static int expects_char(const yysymbol_kind_t *exp, int n, char c)
{
    for (int i = 0; i < n; i++) {
        const char *s = yysymbol_name(exp[i]);
        if (strlen(s) == 3 && s[0] == '\'' && s[1] == c)
            return 1;
    }
    return 0;
}

/*
 * The message for a syntax error at the lookahead token, first match wins:
 *   the innermost open bracket's closer is acceptable:
 *       expected ')' to close '(' at 3:7
 *   an expression may start here:
 *       expected expression before ']'
 *   a declaration may start here:
 *       expected declaration (model, ...), found 'x'
 *   else the acceptable tokens, less the operators:
 *       expected '=' before '50'
 */
static int yyreport_syntax_error(const yypcontext_t *ctx, Parser *p)
{
    Loc at = *yypcontext_location(ctx);
    yysymbol_kind_t tok = yypcontext_token(ctx);
    if (tok == YYSYMBOL_BAD)
        return 0;               /* the scanner has said it */
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    const char *found = tok == YYSYMBOL_YYEOF ? "end of file" : token_text(p, at);
    const char *where = tok == YYSYMBOL_YYEOF ? "at end of file"
                                               : arena_printf("before %s", found);

    /* The innermost bracket still open (the lookahead itself may be one). */
    const LexState *ls = &p->lex;
    int i = ls->nopen - 1;
    while (i >= 0 && (ls->open[i].dropped || ls->open[i].loc.begin == at.begin))
        i--;
    if (i >= 0) {
        char open = p->file->text[ls->open[i].loc.begin];
        char close = open == '(' ? ')' : open == '[' ? ']' : '}';
        /* In a `for` body a stray token is a bad declaration, not a
           missing '}', unless the file ends there. */
        if (expects_char(exp, n, close) && (open != '{' || tok == YYSYMBOL_YYEOF)) {
            int line, col;
            diag_line_col(ls->open[i].loc.begin, &line, &col);
            diag_error(at, "expected '%c' to close '%c' at %d:%d", close, open, line, col);
            return 0;
        }
    }
    if (expects(exp, n, YYSYMBOL_NUM)) {
        diag_error(at, "expected expression %s", where);
        return 0;
    }
    if (expects(exp, n, YYSYMBOL_MODEL)) {
        diag_error(at, "expected declaration (model, dim, const, input, param, var, data, "
                       "let, fn, for, score, residual, loss), found %s", found);
        return 0;
    }

    /* "expected A, B or C before X".  Tokens that would merely continue
       the expression before (an operator, or '(' making a name a call)
       are left out when something else is expected: after `for t in 0:T`
       the reader wants to hear about '{', not that T could be called. */
    int others = 0;
    for (int k = 0; k < n; k++)
        others += !continues_expr(exp[k]) && strcmp(yysymbol_name(exp[k]), "'('") != 0;
    const char *list = NULL, *last = NULL;
    for (int k = 0; k < n; k++) {
        if (continues_expr(exp[k]) || (others && strcmp(yysymbol_name(exp[k]), "'('") == 0))
            continue;
        if (last)
            list = list ? arena_printf("%s, %s", list, last) : last;
        last = token_name(exp[k]);
    }
    if (!last)
        diag_error(at, "unexpected %s", found);
    else if (!list)
        diag_error(at, "expected %s %s", last, where);
    else
        diag_error(at, "expected %s or %s %s", list, last, where);
    return 0;
}

/* ------------------------------------------------------------- nesting */

/* The first node below root that lies deeper than MAX_NEST, or NULL.
   Iterative (an explicit stack of at most MAX_NEST frames): the tree may be
   far deeper than the C stack allows to recurse. */
static Ast *too_deep(Ast *root)
{
    struct {
        Ast *e;
        int k;                  /* next child: a, b, c, then args */
    } st[MAX_NEST];
    int n = 0;
    if (!root)
        return NULL;
    st[n].e = root;
    st[n++].k = 0;
    while (n > 0) {
        Ast *e = st[n - 1].e;
        int k = st[n - 1].k++;
        Ast *c;
        if (k == 0)
            c = e->a;
        else if (k == 1)
            c = e->b;
        else if (k == 2)
            c = e->c;
        else if (k - 3 < e->nargs)
            c = e->args[k - 3];
        else {
            n--;
            continue;
        }
        if (!c)
            continue;
        if (n == MAX_NEST)
            return c;
        st[n].e = c;
        st[n++].k = 0;
    }
    return NULL;
}

/* Reports an expression nested too deeply and drops it, so that no later
   phase (or ast_dump) recurses into it. */
static void check_expr(Ast **slot)
{
    Ast *deep = too_deep(*slot);
    if (deep) {
        Loc at = { deep->loc.begin, deep->loc.begin };
        diag_error(at, "expression nested too deeply (more than %d levels)", MAX_NEST);
        *slot = NULL;
    }
}

static void check_shape(Ast **shape, int rank)
{
    for (int i = 0; i < rank; i++)
        check_expr(&shape[i]);
}

/* Recursion over `for` bodies is safe: the grammar cut them at MAX_NEST. */
static void check_decls(Decl *d)
{
    for (; d; d = d->next) {
        check_expr(&d->value);
        check_expr(&d->index);
        check_expr(&d->lo);
        check_expr(&d->hi);
        check_shape(d->shape, d->rank);
        for (int i = 0; i < d->nparams; i++)
            check_shape(d->params[i].shape, d->params[i].rank);
        check_decls(d->body);
    }
}

/* --------------------------------------------------------------- entry */

Decl *parse_file(const SrcFile *file)
{
    Parser p;
    memset(&p, 0, sizeof p);
    p.file = file;
    p.lex.file = file;
    /* Offsets are ints, and flex takes an int length; main.c checks the
       same limit before it reads a byte, this is for other callers. */
    if (file->len > (size_t)DIL_MAX_SOURCE) {
        Loc at = { 0, 0 };
        diag_error(at, "file is too large: more than %ld bytes", (long)DIL_MAX_SOURCE);
        return NULL;
    }
    if (yylex_init_extra(&p.lex, &p.scanner) != 0)
        dil_fatal("out of memory");
    YY_BUFFER_STATE buf = yy_scan_bytes(file->text, (int)file->len, p.scanner);
    yyparse(&p);
    yy_delete_buffer(buf, p.scanner);
    yylex_destroy(p.scanner);
    check_decls(p.decls);
    return p.decls;
}

/* ---------------------------------------------------------------- dump */

const char *const role_name[ROLE__COUNT] = {"input", "param", "var", "data"};

static void dump_expr(FILE *out, const Ast *e);

static void dump_args(FILE *out, Ast **args, int n)
{
    for (int i = 0; i < n; i++) {
        fputc(' ', out);
        dump_expr(out, args[i]);
    }
}

/* Expressions as s-expressions: (+ a b), (- a), (' a), (call f x),
   (index x i (: a _)), (vec a b), (sum t lo hi body); numbers exact. */
static void dump_expr(FILE *out, const Ast *e)
{
    if (!e) {
        fputc('_', out);
        return;
    }
    switch (e->kind) {
    case AST_NUM: {
        /* mpq_get_str needs the digits of both parts, a '/', a '-', a NUL */
        size_t n = mpz_sizeinbase(mpq_numref(e->num), 10)
                 + mpz_sizeinbase(mpq_denref(e->num), 10) + 3;
        fputs(mpq_get_str(arena_alloc(n), 10, e->num), out);
        break;
    }
    case AST_NAME:
        fputs(e->name, out);
        break;
    case AST_BINARY:
        fprintf(out, "(%c ", e->op);
        dump_expr(out, e->a);
        fputc(' ', out);
        dump_expr(out, e->b);
        fputc(')', out);
        break;
    case AST_NEG:
    case AST_TRANSPOSE:
        fputs(e->kind == AST_NEG ? "(- " : "(' ", out);
        dump_expr(out, e->a);
        fputc(')', out);
        break;
    case AST_CALL:
        fprintf(out, "(call %s", e->name);
        dump_args(out, e->args, e->nargs);
        fputc(')', out);
        break;
    case AST_INDEX:
        fputs("(index ", out);
        dump_expr(out, e->a);
        dump_args(out, e->args, e->nargs);
        fputc(')', out);
        break;
    case AST_SLICE:
        fputs("(: ", out);
        dump_expr(out, e->a);
        fputc(' ', out);
        dump_expr(out, e->b);
        fputc(')', out);
        break;
    case AST_VECTOR:
        fputs("(vec", out);
        dump_args(out, e->args, e->nargs);
        fputc(')', out);
        break;
    case AST_SUMRANGE:
        fprintf(out, "(sum %s ", e->name);
        dump_expr(out, e->a);
        fputc(' ', out);
        dump_expr(out, e->b);
        fputc(' ', out);
        dump_expr(out, e->c);
        fputc(')', out);
        break;
    }
}

/* A shape as [d1 d2]. */
static void dump_shape(FILE *out, Ast **shape, int rank)
{
    fputc('[', out);
    for (int i = 0; i < rank; i++) {
        if (i)
            fputc(' ', out);
        dump_expr(out, shape[i]);
    }
    fputc(']', out);
}

static void dump_decl(FILE *out, const Decl *d)
{
    switch (d->kind) {
    case DECL_MODEL:
        fprintf(out, "(model %s)", d->name);
        return;
    case DECL_DIM:
    case DECL_CONST:
        fprintf(out, "(%s %s ", d->kind == DECL_DIM ? "dim" : "const", d->name);
        dump_expr(out, d->value);
        break;
    case DECL_SYMBOL:
        fprintf(out, "(%s %s", role_name[d->role], d->name);
        if (d->rank > 0) {
            fputc(' ', out);
            dump_shape(out, d->shape, d->rank);
        }
        if (d->value) {
            fputs(" = ", out);
            dump_expr(out, d->value);
        }
        break;
    case DECL_LET:
        fprintf(out, "(let %s", d->name);
        if (d->index) {
            fputs(" [", out);
            dump_expr(out, d->index);
            fputc(']', out);
        }
        fputc(' ', out);
        dump_expr(out, d->value);
        break;
    case DECL_FN:
        fprintf(out, "(fn %s (", d->name);
        for (int i = 0; i < d->nparams; i++) {
            if (i)
                fputc(' ', out);
            fputs(d->params[i].name, out);
            if (d->params[i].rank >= 0)
                dump_shape(out, d->params[i].shape, d->params[i].rank);
        }
        fputs(") ", out);
        dump_expr(out, d->value);
        break;
    case DECL_FOR:
        fprintf(out, "(for %s ", d->name);
        dump_expr(out, d->lo);
        fputc(' ', out);
        dump_expr(out, d->hi);
        for (const Decl *b = d->body; b; b = b->next) {
            fputc(' ', out);
            dump_decl(out, b);
        }
        break;
    case DECL_SCORE:
    case DECL_RESIDUAL:
    case DECL_LOSS:
        fprintf(out, "(%s ", d->kind == DECL_SCORE ? "score"
                             : d->kind == DECL_RESIDUAL ? "residual" : "loss");
        dump_expr(out, d->value);
        break;
    }
    fputc(')', out);
}

/* One declaration per line; a `for` with its body on its line. */
void ast_dump(FILE *out, const Decl *decls)
{
    for (const Decl *d = decls; d; d = d->next) {
        dump_decl(out, d);
        fputc('\n', out);
    }
}
