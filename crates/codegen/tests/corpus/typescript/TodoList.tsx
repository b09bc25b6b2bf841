import React, { useCallback, useState } from "react";

export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

interface TodoListProps {
  todos: Todo[];
  onToggle: (id: number) => void;
}

// One row of the list.
function TodoItem({ todo, onToggle }: { todo: Todo; onToggle: (id: number) => void }) {
  return (
    <li className={todo.done ? "done" : ""} onClick={() => onToggle(todo.id)}>
      {todo.title}
    </li>
  );
}

export function TodoList({ todos, onToggle }: TodoListProps): JSX.Element {
  const open = todos.filter((todo) => !todo.done);
  return (
    <section>
      <h2>{open.length} open</h2>
      <ul>
        {todos.map((todo) => (
          <TodoItem key={todo.id} todo={todo} onToggle={onToggle} />
        ))}
      </ul>
    </section>
  );
}

export const useTodos = (initial: Todo[] = []) => {
  const [todos, setTodos] = useState<Todo[]>(initial);
  const toggle = useCallback((id: number) => {
    setTodos((current) =>
      current.map((todo) => (todo.id === id ? { ...todo, done: !todo.done } : todo)),
    );
  }, []);
  return { todos, toggle };
};

export class TodoStore {
  private todos: Todo[] = [];

  add(title: string): Todo {
    const todo = { id: this.todos.length + 1, title, done: false };
    this.todos = [...this.todos, todo];
    return todo;
  }

  static empty(): TodoStore {
    return new TodoStore();
  }

  async sync(endpoint: string): Promise<void> {
    await fetch(endpoint, { method: "PUT", body: JSON.stringify(this.todos) });
  }
}
